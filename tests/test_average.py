"""``gisaxs-cnn average``: the weights of a model and its fine-tune averaged, then calibrated on the base's stream."""
import json

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.cli import main as cli_main
from xicam_gisaxs_cnn.models import build_model, load_model, save_bundle
from xicam_gisaxs_cnn_trainer.average import averaged_weights
from xicam_gisaxs_cnn_trainer.calibration import fit_temperature
from xicam_gisaxs_cnn_trainer.degradation import Degradation
from xicam_gisaxs_cnn_trainer.sources import batches, make_sources
from xicam_gisaxs_cnn_trainer.train import evaluate, get_args_parser, main

TINY = ["--arch", "compact", "--data", "simulate", "--batches-per-epoch", "2", "--validation-batches", "1",
        "--batch-size", "14", "--quiet", "--seed", "3"]


@pytest.fixture(scope="module")
def base_and_fine_tune(tmp_path_factory):
    """A tiny model trained on the degradation mixture and its fine-tune on 25 x 25 images."""
    directory = tmp_path_factory.mktemp("average")
    base = main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--output", str(directory / "base")]))
    tuned = main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--init", str(base), "--degradation", "rescale:25",
                                               "--lr", "3e-2", "--seed", "4", "--output", str(directory / "tuned")]))
    return base, tuned


def test_averaged_weights_interpolate_floats_and_keep_the_base_batch_counts():
    torch.manual_seed(0)
    base, tuned = build_model("compact"), build_model("compact")
    for module in tuned.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.fill_(2.0)
            module.num_batches_tracked.fill_(9)
    averaged = averaged_weights(base, tuned, 0.3)
    base_state, tuned_state = base.state_dict(), tuned.state_dict()
    for key, tensor in averaged.items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, 0.7 * base_state[key] + 0.3 * tuned_state[key])
        else:
            assert torch.equal(tensor, base_state[key]) and not torch.equal(tensor, tuned_state[key])
    first_mean = next(key for key in averaged if key.endswith("running_mean"))
    assert torch.allclose(averaged[first_mean], torch.full_like(averaged[first_mean], 0.6))  # 0.7 * 0 + 0.3 * 2
    assert all(torch.equal(averaged_weights(base, tuned, 0.0)[key], base_state[key]) for key in base_state)


@pytest.mark.parametrize("other, weight, message", [
    ({"width": 32}, 0.5, r"layer backbone.1.0.weight is \(24, 5, 4, 4\) in the base but \(32, 5, 4, 4\) in the fine-tune"),
    ({}, 1.5, "--weight must be between 0 and 1, got 1.5"),
])
def test_averaged_weights_refuse_other_shapes_and_weights_outside_0_1(other, weight, message):
    with pytest.raises(ValueError, match=message):
        averaged_weights(build_model("compact"), build_model("compact", **other), weight)


def test_average_writes_a_calibrated_bundle_of_the_averaged_weights(base_and_fine_tune, tmp_path, capsys):
    base, tuned = base_and_fine_tune
    output = tmp_path / "averaged"
    assert cli_main(["average", "--model", str(base), "--with", str(tuned), "--weight", "0.25",
                     "--output", str(output)]) == 0
    assert f"bundle written to {output}" in capsys.readouterr().out
    averaged, base_model, tuned_model = load_model(output), load_model(base), load_model(tuned)
    for key, tensor in averaged.model.state_dict().items():
        if tensor.is_floating_point():
            expected = 0.75 * base_model.model.state_dict()[key] + 0.25 * tuned_model.model.state_dict()[key]
            torch.testing.assert_close(tensor, expected)
    manifest = json.loads((output / "manifest.json").read_text())
    base_manifest = json.loads((base / "manifest.json").read_text())
    record = manifest["training"]
    assert record["average"]["weight"] == 0.25
    assert record["average"]["base"]["sha256"] == base_manifest["sha256"]
    assert record["average"]["fine_tune"]["sha256"] == json.loads((tuned / "manifest.json").read_text())["sha256"]
    # calibrated on the base's stream (mixture, seed 3), not the fine-tune's (rescale:25, seed 4)
    assert record["degradation"] == "mixture" and record["args"]["seed"] == 3 and record["data"] == base_manifest["training"]["data"]
    sources = make_sources("simulate", batch_size=14, batches_per_epoch=2, validation_batches=1, seed=3)
    validation = evaluate(averaged.model, batches(sources.validation), Degradation("mixture"), device=torch.device("cpu"),
                          generator=torch.Generator().manual_seed(3 + 7))
    assert manifest["temperature"] == pytest.approx(fit_temperature(validation["logits"], validation["labels"]))
    assert manifest["metrics"]["validation_accuracy"] == pytest.approx(validation["accuracy"])
    assert manifest["ood"]["method"] == base_manifest["ood"]["method"]
    images = np.random.default_rng(0).random((3, 125, 125))
    scores = averaged.predict(images).ood_scores
    assert np.all(np.isfinite(scores))


def test_average_names_what_is_wrong(base_and_fine_tune, untrained_bundle, tmp_path, capsys):
    base, tuned = base_and_fine_tune
    wide = save_bundle(build_model("compact", width=32), tmp_path / "wide", architecture_kwargs={"width": 32})
    cases = [
        (["--model", str(base), "--with", str(wide), "--weight", "0.5", "--output", str(tmp_path / "x")],
         "the base's architecture_kwargs is {} but the fine-tune's is {'width': 32}"),
        (["--model", str(untrained_bundle), "--with", str(tuned), "--weight", "0.5", "--output", str(tmp_path / "y")],
         "bundle 'untrained' records no training stream"),
        (["--model", str(base), "--with", str(tuned), "--weight", "0.5", "--output", str(base)],
         "is the bundle 'base' being read"),
    ]
    for arguments, message in cases:
        assert cli_main(["average", *arguments]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_the_calibration_stream_is_the_base_training_stream_with_its_randomisation(tmp_path):
    from xicam_gisaxs_cnn.models.bundle import Bundle
    from xicam_gisaxs_cnn_trainer.average import training_stream

    recorded = {"data": "simulate-scaled", "batch_size": 8, "batches_per_epoch": 3, "validation_batches": 2, "seed": 5}
    training = {"degradation": "mixture", "mixture": {"gaussian_probability": 0.0}, "randomise": True,
                "randomisation": {"log10_counts": [2.0, 4.0]}, "args": {**recorded, "randomise": True, "outliers": 0.25}}
    bundle = Bundle(build_model("compact"), {"name": "base", "training": training}, tmp_path)
    stream, degradation, randomiser = training_stream(bundle)
    assert stream == {**recorded, "mapping": None, "randomise": True, "fold": False, "outliers": 0.25}
    assert degradation.kind == "mixture" and degradation.mixture.gaussian_probability == 0.0
    assert randomiser.ranges.log10_counts == (2.0, 4.0) and randomiser.ranges.gap_probability == 0.7
    training.update(randomise=False, args={**recorded})
    assert training_stream(bundle)[2] is None
