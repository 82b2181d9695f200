"""Data echoing: each cycle's batches are simulated once, trained on ``echoes`` times, never altered."""
import json

import pytest
import torch

from xicam_gisaxs_cnn_trainer.datasets.echo import EchoedBatches
from xicam_gisaxs_cnn_trainer.datasets.onthefly import SimulatedDataset, simulate_batch
from xicam_gisaxs_cnn_trainer.degradation import Degradation
from xicam_gisaxs_cnn_trainer.realistic.randomise import Randomiser, simulate_scaled_batch
from xicam_gisaxs_cnn_trainer.train import (echoed_epochs_within_budget, epochs_within_budget, get_args_parser, main,
                                            train_one_epoch)
from xicam_gisaxs_cnn.models import build_model


class CountingSimulation:
    """simulate_batch (or another batch function) that counts the batches it made."""

    def __init__(self, function=simulate_batch):
        self.function, self.calls = function, 0

    def __call__(self, labels, **options):
        self.calls += 1
        return self.function(labels, **options)


def dataset(function, batches_per_epoch=4, seed=5):
    return SimulatedDataset(batch_size=7, batches_per_epoch=batches_per_epoch, seed=seed, batch_function=function)


def test_each_cycle_is_simulated_once_and_served_echoes_times_in_new_orders():
    simulation = CountingSimulation()
    echoed = EchoedBatches(dataset(simulation), echoes=3, seed=11)
    epochs = [list(echoed.epoch(e)) for e in range(4)]
    assert simulation.calls == 4 + 4  # cycle 0 (epochs 0-2) and cycle 1 (epoch 3), 4 batches each
    first = [id(batch) for batch in epochs[0]]
    assert all(sorted(id(batch) for batch in epoch) == sorted(first) for epoch in epochs[1:3])
    assert [id(batch) for batch in epochs[1]] != first or [id(batch) for batch in epochs[2]] != first
    assert not {id(batch) for batch in epochs[3]} & set(first)
    assert not torch.equal(epochs[3][0].images, epochs[0][0].images)
    assert len(echoed) == 4


def test_a_run_resumed_inside_a_cycle_trains_on_the_same_batches_in_the_same_order():
    reference = EchoedBatches(dataset(simulate_batch), echoes=2, seed=11)
    expected = [list(reference.epoch(e)) for e in range(2)][1]
    resumed = list(EchoedBatches(dataset(simulate_batch), echoes=2, seed=11).epoch(1))
    assert len(resumed) == len(expected) == 4
    assert all(torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) for a, b in zip(resumed, expected))


def test_one_echo_keeps_nothing_and_reads_every_epoch_afresh():
    simulation = CountingSimulation()
    echoed = EchoedBatches(dataset(simulation), echoes=1, seed=11)
    first, second = list(echoed.epoch(0)), list(echoed.epoch(1))
    plain = dataset(simulate_batch)
    plain.set_epoch(1)
    assert simulation.calls == 8 and echoed._kept == []
    assert all(torch.equal(a.images, b.images) for a, b in zip(second, plain))
    assert not torch.equal(first[0].images, second[0].images)


@pytest.mark.parametrize("echoes", [0, -2, 1.5, True, "2"])
def test_echoes_must_be_a_positive_integer(echoes):
    with pytest.raises(ValueError, match="echoes must be an integer >= 1"):
        EchoedBatches(dataset(simulate_batch), echoes=echoes, seed=0)


def test_training_randomises_and_degrades_the_echoed_batches_without_altering_them():
    echoed = EchoedBatches(dataset(simulate_scaled_batch, batches_per_epoch=2), echoes=2, seed=3)
    model = build_model("compact")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=4)
    options = {"device": torch.device("cpu"), "amp": False, "scaler": torch.amp.GradScaler("cpu", enabled=False),
               "generator": torch.Generator().manual_seed(0), "randomiser": Randomiser()}
    train_one_epoch(model, echoed.epoch(0), optimizer, scheduler, Degradation("mixture"), epoch=0, **options)
    kept = [(batch.images.clone(), batch.masks.clone()) for batch in echoed._kept]
    metrics = train_one_epoch(model, echoed.epoch(1), optimizer, scheduler, Degradation("mixture"), epoch=1, **options)
    assert all(torch.equal(batch.images, images) and torch.equal(batch.masks, masks)
               for batch, (images, masks) in zip(echoed._kept, kept))
    assert 0 <= metrics["train_accuracy"] <= 1 and metrics["train_loss"] > 0


def test_train_echo_is_recorded_in_the_manifest(tmp_path):
    args = ["--arch", "compact", "--data", "simulate", "--batches-per-epoch", "2", "--validation-batches", "1",
            "--batch-size", "14", "--quiet", "--seed", "3", "--epochs", "2", "--echo", "2", "--output", str(tmp_path / "e")]
    training = json.loads((main(get_args_parser().parse_args(args)) / "manifest.json").read_text())["training"]
    assert training["echoes"] == 2 and training["args"]["echo"] == 2
    assert [entry["epoch"] for entry in training["log"]] == [0, 1]


def test_the_time_budget_paces_echoed_training_by_whole_cycles():
    assert echoed_epochs_within_budget(100, 1, 10.0, 100.0, echoes=4) == 100  # one fresh epoch: pace unknown yet
    assert epochs_within_budget(100, 4, 40.0, 100.0) == 9
    assert echoed_epochs_within_budget(100, 4, 40.0, 100.0, echoes=4) == 8  # whole cycles: no lone fresh epoch
    assert echoed_epochs_within_budget(6, 4, 40.0, 100.0, echoes=4) == 6  # all planned epochs fit: none cut
    assert echoed_epochs_within_budget(100, 2, 120.0, 100.0, echoes=4) == 2  # budget spent inside a cycle: stop
    assert echoed_epochs_within_budget(100, 3, 30.0, 100.0, echoes=1) == epochs_within_budget(100, 3, 30.0, 100.0)
