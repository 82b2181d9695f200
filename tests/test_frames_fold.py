"""Folding a canonical image about qy = 0: mirror cells averaged, one-sided gaps filled, noise halved."""
from __future__ import annotations

import numpy as np
import pytest

from xicam_gisaxs_cnn.frames import DetectorGeometry, canonical_axes_nm, canonical_frame, resample
from xicam_gisaxs_cnn.frames.fold import fold_qy

GEOMETRY = DetectorGeometry(energy_kev=10.0, distance_mm=2000.0, pixel_size_mm=(0.172, 0.172),
                            beam_centre_px=(480.0, 980.0), incidence_angle_deg=0.2)


@pytest.mark.parametrize("window_scale", [0.5, 1.0, 3.7])
def test_the_canonical_grid_is_its_own_mirror_about_qy_0(window_scale):
    qy, _ = canonical_axes_nm(window_scale)
    np.testing.assert_allclose(qy[::-1], -qy, atol=1e-12)


def test_mirror_cells_are_averaged_and_one_sided_gaps_filled():
    image = np.zeros((125, 125), dtype=np.float32)
    mask = np.ones((125, 125), dtype=bool)
    image[:, 10], image[:, 114] = 4.0, 2.0  # mirror columns: 10 <-> 124 - 10
    image[50, 20], mask[50, 104] = 7.0, False  # a gap on one side only
    mask[60, 30] = mask[60, 94] = False  # a gap on both sides
    folded, valid = fold_qy(image, mask)
    assert folded.dtype == np.float32 and valid.dtype == bool
    np.testing.assert_array_equal(folded[:, 10], 3.0)
    np.testing.assert_array_equal(folded[:, 114], 3.0)
    assert folded[50, 20] == folded[50, 104] == 7.0 and valid[50, 104]
    assert not valid[60, 30] and not valid[60, 94] and folded[60, 30] == 0.0
    assert valid.sum() == mask.size - 2


def test_a_symmetric_image_is_unchanged_and_a_batch_folds_image_by_image():
    rng = np.random.default_rng(3)
    half = rng.random((125, 63)).astype(np.float32)
    symmetric = np.concatenate([half, half[:, -2::-1]], axis=1)
    mask = np.ones((125, 125), dtype=bool)
    np.testing.assert_array_equal(fold_qy(symmetric, mask)[0], symmetric)
    images, masks = rng.random((3, 125, 125)), rng.random((3, 125, 125)) > 0.3
    folded, valid = fold_qy(images, masks)
    for index in range(3):
        one, one_valid = fold_qy(images[index], masks[index])
        np.testing.assert_allclose(folded[index], one, rtol=1e-6)
        np.testing.assert_array_equal(valid[index], one_valid)


def test_folding_halves_the_variance_of_counting_noise():
    """Poisson counts of a flat film: each folded cell is the mean of two independent cells."""
    rng = np.random.default_rng(11)
    counts = rng.poisson(100.0, (125, 125)).astype(np.float32)
    folded, _ = fold_qy(counts, np.ones_like(counts, dtype=bool))
    off_axis = np.r_[0:62, 63:125]  # the centre column is its own mirror
    ratio = folded[:, off_axis].var() / counts.var()
    assert ratio == pytest.approx(0.5, abs=0.03)


def test_detector_frames_are_folded_before_the_model_unless_asked_not_to():
    rng = np.random.default_rng(0)
    frame = rng.poisson(30, (1043, 981)).astype(np.float32)
    frame[:, 300:307] = -1  # a vertical module gap on one side of the beam (x = 480) only
    image, mask = resample(frame, geometry=GEOMETRY)
    folded_image, folded_mask = canonical_frame(frame, geometry=GEOMETRY)
    np.testing.assert_array_equal(folded_mask, mask | mask[:, ::-1])
    assert folded_mask.sum() > mask.sum()
    np.testing.assert_allclose(folded_image, fold_qy(image, mask)[0])
    plain_image, plain_mask = canonical_frame(frame, geometry=GEOMETRY, fold=False)
    np.testing.assert_array_equal(plain_image, image)
    np.testing.assert_array_equal(plain_mask, mask)


def test_bad_shapes_and_masks_are_refused():
    with pytest.raises(ValueError, match="share a shape"):
        fold_qy(np.ones((125, 125)), np.ones((125, 124), dtype=bool))
    with pytest.raises(ValueError, match="share a shape"):
        fold_qy(np.ones((10, 10)), np.ones((10, 10), dtype=bool))
    with pytest.raises(ValueError, match="mask must be boolean"):
        fold_qy(np.ones((125, 125)), np.ones((125, 125)))
