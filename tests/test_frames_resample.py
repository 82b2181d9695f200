"""Resampling Pilatus-sized frames onto the canonical grid: spots land at their q, gaps/beam stop/horizon are masked."""
from __future__ import annotations

import math

import numpy as np
import pytest

from xicam_gisaxs_cnn.canonical import qy_nm, qz_nm
from xicam_gisaxs_cnn.frames import (
    DetectorGeometry, canonical_axes_nm, canonical_frame, pixel_from_q, resample, resample_scales, resampling_plan,
)
from xicam_gisaxs_cnn.frames.detectors import PILATUS_1M as PILATUS_1M_LAYOUT
from xicam_gisaxs_cnn.physics import wavenumber_nm

PILATUS_1M = (1043, 981)
GEOMETRY = DetectorGeometry(energy_kev=10.0, distance_mm=2000.0, pixel_size_mm=(0.172, 0.172),
                            beam_centre_px=(480.0, 980.0), incidence_angle_deg=0.2)


def pilatus_gaps(shape: tuple[int, int]) -> np.ndarray:
    """True in the inter-module gaps of a Pilatus: modules 487 x 195 px, gaps 7 px (vertical) and 17 px (horizontal)."""
    rows, columns = np.arange(shape[0]), np.arange(shape[1])
    row_gap = (rows % (195 + 17)) >= 195
    column_gap = (columns % (487 + 7)) >= 487
    return row_gap[:, None] | column_gap[None, :]


def gaussian_spot(shape, x0, y0, sigma_px=2.0, height=1e4, background=10.0):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    return background + height * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma_px**2))


def test_pilatus_gap_pattern_has_the_real_module_layout():
    gaps = pilatus_gaps(PILATUS_1M)
    assert 2 * 487 + 7 == PILATUS_1M[1] and 5 * 195 + 4 * 17 == PILATUS_1M[0]
    assert gaps[:, 487:494].all() and not gaps[0, 486] and not gaps[0, 494]
    assert gaps[195:212].all() and not gaps[194, :487].any() and not gaps[212, :487].any()
    assert not gaps[-1, :487].any()


@pytest.mark.parametrize("row, column, window_scale", [(70, 87, 1.0), (40, 30, 1.0), (62, 100, 2.0)])
def test_gaussian_spot_at_a_known_q_lands_on_its_canonical_pixel(row, column, window_scale):
    qy_axis, qz_axis = canonical_axes_nm(window_scale)
    x0, y0 = pixel_from_q(qy_axis[column], qz_axis[row], geometry=GEOMETRY)
    frame = gaussian_spot(PILATUS_1M, float(x0), float(y0))
    image, mask = resample(frame, geometry=GEOMETRY, window_scale=window_scale)
    assert mask[row, column]
    assert np.unravel_index(np.argmax(image), image.shape) == (row, column)


def test_window_scale_shrinks_the_q_axes():
    qy_axis, qz_axis = canonical_axes_nm(4.0)
    np.testing.assert_allclose(qy_axis, qy_nm() / 4)
    np.testing.assert_allclose(qz_axis, qz_nm() / 4)
    with pytest.raises(ValueError, match="window_scale must be a finite number > 0, got 0"):
        canonical_axes_nm(0)


def test_gaps_beam_stop_and_below_horizon_are_masked_and_the_rest_is_data():
    rng = np.random.default_rng(0)
    frame = rng.poisson(50, PILATUS_1M).astype(np.int32)
    gaps = pilatus_gaps(PILATUS_1M)
    frame[gaps] = -1
    beam_stop = (465, 495, 850, 1042)
    image, mask = resample(frame, geometry=GEOMETRY, beam_stop_px=beam_stop)
    assert np.all(image[~mask] == 0) and np.all(image[mask] > 0)

    qz_grid, qy_grid = np.meshgrid(qz_nm(), qy_nm(), indexing="ij")
    x, y = pixel_from_q(qy_grid, qz_grid, geometry=GEOMETRY)
    column, row = np.rint(x).astype(int), np.rint(y).astype(int)
    horizon_qz = wavenumber_nm(10.0) * math.sin(math.radians(0.2))

    def window(r, c, half):
        return (slice(max(r - half, 0), r + half + 1), slice(max(c - half, 0), c + half + 1))

    checked_masked = checked_valid = 0
    for i in range(0, 125, 3):
        for j in range(125):
            r, c = row[i, j], column[i, j]
            if not (0 <= r < PILATUS_1M[0] and 0 <= c < PILATUS_1M[1]):
                assert not mask[i, j]  # the detector does not cover it
                continue
            in_stop = beam_stop[0] <= c <= beam_stop[1] and beam_stop[2] <= r <= beam_stop[3]
            if qz_grid[i, j] < horizon_qz - 0.02 or gaps[window(r, c, 2)].all() or in_stop and (
                    beam_stop[0] + 3 <= c <= beam_stop[1] - 3):
                assert not mask[i, j], (i, j)
                checked_masked += 1
            elif qz_grid[i, j] > horizon_qz + 0.02 and not gaps[window(r, c, 3)].any() and not (
                    beam_stop[0] - 3 <= c <= beam_stop[1] + 3 and r >= beam_stop[2] - 3):
                assert mask[i, j], (i, j)
                checked_valid += 1
    assert checked_masked > 300 and checked_valid > 1500


def test_resampling_preserves_a_uniform_intensity_and_masks_nan_pixels():
    frame = np.full(PILATUS_1M, 7.0)
    frame[300:320, 100:900] = np.nan
    image, mask = resample(frame, geometry=GEOMETRY)
    assert mask.sum() > 0.7 * mask.size
    np.testing.assert_allclose(image[mask], 7.0, rtol=1e-6)
    assert np.isfinite(image).all()


def test_known_pilatus_gaps_are_masked_from_the_layout_whatever_they_hold():
    frame = np.full(PILATUS_1M, 3.0)  # gaps reading 3 like live pixels: still masked by the layout
    plan = resampling_plan(PILATUS_1M, geometry=GEOMETRY)
    gaps = PILATUS_1M_LAYOUT.gap_mask().ravel()
    assert not gaps[plan.pixels].any()
    odd = resampling_plan((1043, 980), geometry=GEOMETRY)  # no known layout: every pixel may be used
    assert np.isin(np.flatnonzero(gaps[:1043 * 980]), odd.pixels).any()


def test_zeros_are_gaps_in_a_bright_frame_and_counts_in_a_weak_one():
    plan = resampling_plan(PILATUS_1M, geometry=GEOMETRY)
    bright = np.full(PILATUS_1M, 300.0)
    bright[:, 440:460] = 0  # a dead strip beside the beam centre (x = 480 px)
    _, auto = plan.apply(bright)
    _, forced = plan.apply(bright, zero_is_gap=False)
    assert auto.sum() < forced.sum()  # the dead strip is masked
    weak = np.random.default_rng(0).poisson(0.05, PILATUS_1M).astype(np.int32)  # 95% of pixels count 0
    image, mask = plan.apply(weak)
    assert mask.mean() > 0.5 and 0.02 < image[mask].mean() < 0.08
    np.testing.assert_array_equal(mask, plan.apply(weak, zero_is_gap=False)[1])
    weak[0, 0] = -1  # a detector marking something negative: its zeros are counts
    assert plan.apply(weak)[1].sum() == mask.sum()
    _, all_masked = plan.apply(weak, zero_is_gap=True)
    assert all_masked.mean() < 0.05


def test_coarse_pixels_fill_every_cell_of_the_detector_footprint():
    geometry = DetectorGeometry(energy_kev=10.0, distance_mm=250.0, pixel_size_mm=(0.172, 0.172),
                                beam_centre_px=(490.0, 1000.0), incidence_angle_deg=0.2)
    monolithic = (1040, 980)  # no module gaps
    plan = resampling_plan(monolithic, geometry=geometry)
    assert (plan.cell_pixels == 0).sum() > 1000  # pixels coarser than the grid leave cells without a pixel centre
    image, mask = plan.apply(np.full(monolithic, 5.0))
    horizon_row = int(np.searchsorted(-qz_nm(), -wavenumber_nm(10.0) * math.sin(math.radians(0.2))))
    assert mask[:horizon_row - 1].all()
    np.testing.assert_allclose(image[mask], 5.0)


def test_batch_resampling_equals_frame_by_frame():
    rng = np.random.default_rng(2)
    frames = rng.poisson(20, (3, *PILATUS_1M)).astype(np.float32)
    plan = resampling_plan(PILATUS_1M, geometry=GEOMETRY)
    images, masks = plan.apply(frames)
    for index in range(3):
        image, mask = plan.apply(frames[index])
        np.testing.assert_array_equal(images[index], image)
        np.testing.assert_array_equal(masks[index], mask)


def frame_bright_near_the_beam(case: str) -> np.ndarray:
    """Counts of about 200 near the direct beam falling to 0.01 far from it, Pilatus gaps reading -1.

    Zeros are rare in a small window about the beam and the majority of a large one, so the
    automatic zero_is_gap decision differs between window scales; ``case`` adds NaN pixels,
    dead pixels reading -2 outside the gaps (one far from the beam, one at qy = 0.2, qz = 0.5
    nm^-1), or subtracts a background of 1, which makes every pixel that counted 0 negative:
    where a window holds a negative pixel, its zeros are counts.
    """
    y, x = np.mgrid[0:PILATUS_1M[0], 0:PILATUS_1M[1]]
    distance_px = np.hypot(x - GEOMETRY.beam_centre_px[0], y - GEOMETRY.beam_centre_px[1])
    rng = np.random.default_rng(21)
    frame = rng.poisson(200.0 * np.exp(-distance_px / 60.0) + 0.01).astype(np.float32)
    if case == "nan":
        frame[rng.random(PILATUS_1M) < 0.01] = np.nan
    if case == "dead pixels":
        x, y = pixel_from_q(0.2, 0.5, geometry=GEOMETRY)
        frame[100, 100] = frame[int(round(float(y))), int(round(float(x)))] = -2
    if case == "background subtracted":
        frame -= 1.0
    frame[PILATUS_1M_LAYOUT.gap_mask()] = -1
    return frame


@pytest.mark.parametrize("case", ["counts", "nan", "dead pixels", "background subtracted"])
def test_resampling_at_many_scales_equals_each_scale_alone(case):
    frame, scales, stop = frame_bright_near_the_beam(case), (0.25, 0.5, 1.0, 2.0, 5.66, 16.0), (470, 490, 940, 1042)
    images, masks = resample_scales(frame, geometry=GEOMETRY, window_scales=scales, beam_stop_px=stop)
    assert images.shape == masks.shape == (len(scales), 125, 125) and images.dtype == np.float32
    for image, mask, scale in zip(images, masks, scales):
        expected_image, expected_mask = resample(frame, geometry=GEOMETRY, window_scale=scale, beam_stop_px=stop)
        np.testing.assert_array_equal(image, expected_image)
        np.testing.assert_array_equal(mask, expected_mask)
    zero_fraction = [np.mean(frame.ravel()[resampling_plan(PILATUS_1M, geometry=GEOMETRY, window_scale=scale,
                                                          beam_stop_px=stop).pixels] == 0) for scale in (0.25, 2.0)]
    if case != "background subtracted":
        assert zero_fraction[0] > 0.5 and zero_fraction[1] < 0.1  # the windows decide about zeros differently


def test_bad_frames_and_plans_raise_value_errors_naming_the_problem():
    plan = resampling_plan(PILATUS_1M, geometry=GEOMETRY)
    with pytest.raises(ValueError, match=r"frame shape \(100, 100\) does not match the detector shape \(1043, 981\)"):
        plan.apply(np.ones((100, 100)))
    with pytest.raises(ValueError, match="lies off the detector"):
        resampling_plan((100, 100), geometry=GEOMETRY)
    with pytest.raises(ValueError, match="frame holds no finite value"):
        canonical_frame(np.full(PILATUS_1M, np.nan), geometry=GEOMETRY)
    with pytest.raises(ValueError, match="needs a detector geometry"):
        canonical_frame(np.ones(PILATUS_1M), geometry=None)
    with pytest.raises(ValueError, match="of the canonical grid holds data after masking"):
        canonical_frame(np.full(PILATUS_1M, -1.0), geometry=GEOMETRY)
    with pytest.raises(ValueError, match=r"frame must be a 2-D array, got shape \(2, 1043, 981\)"):
        resample_scales(np.ones((2, *PILATUS_1M)), geometry=GEOMETRY, window_scales=[1.0])
    with pytest.raises(ValueError, match="frame must hold real numbers, got dtype complex128"):
        resample_scales(np.ones(PILATUS_1M, dtype=complex), geometry=GEOMETRY, window_scales=[1.0])
    with pytest.raises(ValueError, match="window_scales holds no scale"):
        resample_scales(np.ones(PILATUS_1M), geometry=GEOMETRY, window_scales=[])
    with pytest.raises(ValueError, match="window_scale must be a finite number > 0, got 0.0"):
        resample_scales(np.ones(PILATUS_1M), geometry=GEOMETRY, window_scales=[1.0, 0.0])
