"""Domain randomisation of canonical batches: masks, counts, shifts, seeds, and simulation over window scales."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.canonical import IMAGE_SIZE, horizon_mask
from xicam_gisaxs_cnn.frames.scale import scale_ladder
from xicam_gisaxs_cnn.physics import wavenumber_nm
from xicam_gisaxs_cnn.preprocess import INPUT_CHANNELS, MASK_CHANNEL, model_input_torch
from xicam_gisaxs_cnn_trainer.realistic.randomise import (
    MAX_HORIZON_QZ_NM, RandomisationRanges, Randomiser, ScaledSimulation, simulate_scaled_batch,
)
from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig

NOTHING = dict(warp_probability=0.0, yoneda_probability=0.0, specular_probability=0.0, parasitic_probability=0.0,
               background_probability=0.0, counts_probability=0.0, gap_probability=0.0, beam_stop_probability=0.0,
               horizon_cut_rows=(0.0, 0.0), bad_cell_fraction=(0.0, 0.0))


def _batch(count: int = 6, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator) + 0.5
    masks = torch.from_numpy(horizon_mask()).expand(count, 1, IMAGE_SIZE, IMAGE_SIZE).clone()
    return images, masks


def test_with_every_artefact_off_the_batch_is_only_mean_normalised():
    images, masks = _batch()
    out, out_masks = Randomiser(RandomisationRanges(**NOTHING))(images, masks, torch.Generator().manual_seed(1))
    assert torch.equal(out_masks, masks)
    assert int(masks[0, 0, :, 0].sum()) == 114  # rows above the horizon at 10 keV, 0.2 degrees
    expected = images / images[:, :, :114].mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(out[:, :, :114], expected[:, :, :114], rtol=1e-5, atol=1e-6)
    assert bool((out[:, :, 114:] == 0).all())


def test_gaps_and_beam_stop_end_up_masked_with_pilatus_proportions():
    images, masks = _batch(count=8)
    ranges = RandomisationRanges(**{**NOTHING, "gap_probability": 1.0, "beam_stop_probability": 1.0,
                                    "pixel_to_cell": (0.5, 0.5), "beam_stop_width_cells": (6.0, 6.0),
                                    "beam_stop_above_horizon": (0.5, 0.5)})
    _, out_masks = Randomiser(ranges)(images, masks, torch.Generator().manual_seed(2))
    out_masks = out_masks[:, 0]
    # 0.5 cells per pixel: horizontal gaps 8.5 rows every 106, vertical ones 3.5 columns every 247
    fully_masked_rows = (~out_masks[:, :114]).all(dim=2).sum(dim=1).double()
    assert bool(((fully_masked_rows >= 7) & (fully_masked_rows <= 19)).all())
    # the beam stop: the centre column is masked from its top down to the horizon in every sample
    centre = out_masks[:, 60:114, 62]
    assert not bool(centre.any())
    assert bool(out_masks[:, :114].any(dim=(1, 2)).all())


def test_total_counts_match_the_requested_counts():
    images, masks = _batch(count=16)
    ranges = RandomisationRanges(**{**NOTHING, "counts_probability": 1.0, "log10_counts": (4.0, 4.0)})
    out, out_masks = Randomiser(ranges)(images, masks, torch.Generator().manual_seed(3))
    totals = out.sum(dim=(1, 2, 3)).double()
    assert bool((out == out.round()).all())
    assert abs(float(totals.mean()) - 1e4) < 5 * math.sqrt(1e4 / 16)
    assert float(totals.std()) == pytest.approx(100.0, rel=0.6)  # Poisson: sqrt(1e4)


def test_a_shift_moves_the_pattern_by_whole_cells():
    images = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    images[0, 0, 60, 50] = 1.0
    masks = torch.ones_like(images, dtype=torch.bool)
    ranges = RandomisationRanges(**{**NOTHING, "warp_probability": 1.0, "shift_cells": (2.0, 2.0),
                                    "rotation_deg": (0.0, 0.0), "zoom": (1.0, 1.0)})
    out, out_masks = Randomiser(ranges)(images, masks, torch.Generator().manual_seed(4))
    row, column = divmod(int(out[0, 0].argmax()), IMAGE_SIZE)
    assert (row, column) == (58, 48)
    assert not bool(out_masks[0, 0, :, -2:].any()) and not bool(out_masks[0, 0, -2:].any())


def test_same_seed_same_batch_and_masked_pixels_are_zero():
    images, masks = _batch()
    first = Randomiser()(images, masks, torch.Generator().manual_seed(5))
    second = Randomiser()(images, masks, torch.Generator().manual_seed(5))
    other = Randomiser()(images, masks, torch.Generator().manual_seed(6))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])
    assert bool((first[0][~first[1]] == 0).all()) and bool((first[0] >= 0).all())
    inputs = model_input_torch(*first)
    assert inputs.shape == (6, INPUT_CHANNELS, IMAGE_SIZE, IMAGE_SIZE) and torch.equal(inputs[:, MASK_CHANNEL].bool(), first[1][:, 0])


def test_bad_inputs_are_refused_by_name():
    images, masks = _batch(count=2)
    with pytest.raises(ValueError, match="masks must be bool"):
        Randomiser()(images, masks.float())
    with pytest.raises(ValueError, match="images must hold finite intensities"):
        Randomiser()(-images, masks)
    with pytest.raises(ValueError, match="window_scale must hold 2"):
        Randomiser()(images, masks, window_scale=torch.tensor([1.0]))


def test_scaled_simulation_keeps_the_bragg_rod_where_the_unscaled_lattice_has_it():
    config = SimulationConfig(nn_distance_nm_range=(20.0, 20.0), grains=1)
    ranges = ScaledSimulation(window_scale=(4.0, 4.0), energy_kev=(10.0, 10.0), alpha_i_deg=(0.1, 0.1))
    aligned = {"in_plane_angle_deg": 0.0, "mosaic_spread_deg": 0.0, "repetitions_lateral": 30.0}
    batch = simulate_scaled_batch(torch.tensor([0]), config=config, generator=torch.Generator().manual_seed(7),
                                  ranges=ranges, overrides=aligned)
    assert float(batch.params["nn_distance_nm"][0]) == pytest.approx(80.0)
    horizon = wavenumber_nm(10.0) * math.sin(math.radians(0.1)) * 4.0  # canonical qz of the horizon, 0.354
    qz = np.linspace(2.0, 0.0, IMAGE_SIZE)
    np.testing.assert_array_equal(batch.masks[0, 0, :, 0].numpy(), qz >= horizon)
    # SC100 aligned with the beam: (010) rod at qy = 2 pi / 80 nm^-1, times 4 on the grid = 0.314 (column 81.5)
    profile = batch.images[0, 0, :int((qz >= horizon).sum())].sum(dim=0).numpy()
    column = 66 + int(np.argmax(profile[66:100]))
    assert abs(column - (62 + 2 * math.pi / 80.0 * 4.0 / (2.0 / 124))) <= 1.0


def test_scaled_simulation_draws_ladder_scales_and_keeps_the_horizon_in_the_window():
    batch = simulate_scaled_batch(torch.arange(7), config=SimulationConfig(grains=1),
                                  generator=torch.Generator().manual_seed(8))
    scales = batch.params["window_scale"].numpy()
    assert all(np.isclose(scale_ladder(), s).any() for s in scales)
    alpha_i = batch.params["alpha_i_deg"].numpy()
    horizon = scales * wavenumber_nm(1.0) * batch.params["energy_kev"].numpy() * np.sin(np.radians(alpha_i))
    assert np.all((horizon <= MAX_HORIZON_QZ_NM + 1e-9) | np.isclose(alpha_i, 0.08))
    assert bool((batch.masks.float().mean(dim=(1, 2, 3)) > 0.25).all())
