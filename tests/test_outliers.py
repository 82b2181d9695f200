"""Outlier exposure: films of no class in training batches, and the loss that pushes them to uniform."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.frames.scale import scale_ladder
from xicam_gisaxs_cnn.models import load_model
from xicam_gisaxs_cnn_trainer.realistic.frames import monolayer_intensity
from xicam_gisaxs_cnn_trainer.realistic.outliers import (
    OUTLIER_KINDS, OUTLIER_LABEL, outlier_batch, outlier_exposure_loss, with_outliers,
)
from xicam_gisaxs_cnn_trainer.realistic.randomise import render_scaled, sample_scaled_parameters, simulate_scaled_batch
from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig
from xicam_gisaxs_cnn_trainer.sources import make_sources
from xicam_gisaxs_cnn_trainer.train import get_args_parser, main


def test_outlier_batches_deal_disordered_monolayer_and_empty_films_in_turn():
    batch = outlier_batch(6, config=SimulationConfig(grains=1), generator=torch.Generator().manual_seed(4))
    assert OUTLIER_KINDS == ("disordered", "monolayer", "empty")
    assert batch.labels.tolist() == [OUTLIER_LABEL] * 6
    assert all(np.isclose(scale_ladder(), s).any() for s in batch.params["window_scale"].numpy())
    above = batch.masks[:, 0]
    for row in range(6):
        image = batch.images[row, 0]
        if row % 3 == 2:  # empty: the randomiser adds everything
            assert float(image.abs().max()) == 0.0
        else:
            assert float(image[above[row]].min()) > 0 and float(image[~above[row]].abs().max()) == 0.0


@pytest.mark.parametrize("lattice, first_nm", [("square", 2 * math.pi / 50.0), ("hexagonal", 4 * math.pi / (math.sqrt(3) * 50.0))])
def test_a_monolayers_first_rod_sits_at_its_first_reciprocal_lattice_length(lattice, first_nm):
    qy = np.linspace(0.01, 0.3, 2901)[None, :]
    intensity = monolayer_intensity(qy, np.full_like(qy, 0.05), nn_distance_nm=50.0, radius_nm=5.0, width_nm=0.002,
                                    lattice=lattice)[0]
    peaks = np.flatnonzero((intensity[1:-1] > intensity[:-2]) & (intensity[1:-1] > intensity[2:])) + 1
    assert qy[0, peaks[0]] == pytest.approx(first_nm, abs=1e-4)
    with pytest.raises(ValueError, match="lattice must be 'hexagonal' or 'square'"):
        monolayer_intensity(qy, qy, nn_distance_nm=50.0, radius_nm=5.0, width_nm=0.002, lattice="oblique")


def test_disordered_films_lose_the_bragg_rods_of_the_same_lattice():
    config = SimulationConfig(grains=1)
    aligned = {"in_plane_angle_deg": 0.0, "mosaic_spread_deg": 0.0, "repetitions_lateral": 30.0,
               "repetitions_vertical": 5.0}

    def contrast(fraction: float) -> float:
        params = sample_scaled_parameters(torch.tensor([0]), config=config, generator=torch.Generator().manual_seed(9),
                                          overrides={**aligned, "debye_waller_fraction": fraction})
        image, mask = render_scaled(params, config=config)
        profile = image[0, 0, mask[0, 0, :, 0]].sum(dim=0).numpy()
        return float(profile.max() / np.median(profile))

    ordered, disordered = contrast(0.0), contrast(0.45)
    assert ordered > 20 and disordered < ordered / 10


def test_outlier_exposure_loss_is_cross_entropy_plus_the_distance_to_uniform():
    logits = torch.tensor([[3.0, 0, 0, 0, 0, 0, 0], [0.0, 2, 0, 0, 0, 0, 0], [0.0] * 7, [5.0, 0, 0, 0, 0, 0, 0]])
    labels = torch.tensor([0, 1, OUTLIER_LABEL, OUTLIER_LABEL])
    cross_entropy = torch.nn.functional.cross_entropy(logits[:2], labels[:2])
    confident = -torch.log_softmax(logits[3], dim=0).mean()
    expected = cross_entropy + 0.5 * (math.log(7) + confident) / 2
    assert float(outlier_exposure_loss(logits, labels, weight=0.5)) == pytest.approx(float(expected))
    assert float(outlier_exposure_loss(logits[:2], labels[:2], weight=0.5)) == pytest.approx(float(cross_entropy))
    only = outlier_exposure_loss(torch.zeros(2, 7, requires_grad=True), torch.tensor([OUTLIER_LABEL] * 2), weight=1.0)
    assert float(only.detach()) == pytest.approx(math.log(7))  # uniform logits: the least the outlier term can be


def test_with_outliers_appends_a_fraction_of_films_of_no_class_and_refuses_bad_fractions():
    wrapped = with_outliers(simulate_scaled_batch, 0.25)
    batch = wrapped(torch.arange(8) % 7, config=SimulationConfig(grains=1), generator=torch.Generator().manual_seed(1))
    assert batch.labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 0, OUTLIER_LABEL, OUTLIER_LABEL]
    assert batch.images.shape[0] == batch.masks.shape[0] == batch.params["window_scale"].shape[0] == 10
    for fraction in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="the outlier fraction must be in"):
            with_outliers(simulate_scaled_batch, fraction)
    with pytest.raises(ValueError, match="use --data simulate-scaled, not 'simulate'"):
        make_sources("simulate", batch_size=8, batches_per_epoch=1, validation_batches=1, seed=0, outliers=0.25)


def test_training_with_outliers_scores_ood_by_the_largest_probability(tmp_path):
    args = ["--arch", "compact", "--data", "simulate-scaled", "--randomise", "--outliers", "0.5", "--epochs", "1",
            "--batches-per-epoch", "2", "--validation-batches", "1", "--batch-size", "14", "--quiet", "--seed", "3",
            "--output", str(tmp_path / "oe")]
    bundle = main(get_args_parser().parse_args(args))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["training"]["outlier_exposure"] == {"fraction": 0.5, "weight": 0.5}
    assert manifest["training"]["data"]["outliers_per_batch"] == 7
    assert manifest["ood"]["method"] == "max-softmax" and 0 < manifest["ood"]["threshold"] <= 1 - 1 / 7
    assert 0 <= manifest["training"]["log"][0]["train_accuracy"] <= 1
    classifier = load_model(bundle)
    prediction = classifier.predict(torch.rand(3, 125, 125).numpy())
    np.testing.assert_allclose(prediction.ood_scores, 1 - prediction.probabilities.max(axis=1), atol=1e-6)
    np.testing.assert_array_equal(prediction.ood_flags, prediction.ood_scores > manifest["ood"]["threshold"])
