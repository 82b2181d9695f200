"""HipGISAXS readers: files written here in both formats land on the right canonical pixels."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from xicam_gisaxs_cnn.canonical import pixel_size_nm, q_mesh, qy_nm, qz_nm
from xicam_gisaxs_cnn.classes import class_index
from xicam_gisaxs_cnn_trainer.hipgisaxs import (
    HipGISAXSFolder,
    label_files,
    read_hdf5,
    read_hipgisaxs,
    read_out,
    resample_to_canonical,
)

WIDE_QLIMS = (-1.5, 1.5, -0.4, 2.6)  # covers the whole canonical window


def source_grid(qlims, shape):
    """q of every source pixel, canonical orientation (row 0 = highest qz)."""
    qy = np.linspace(qlims[0], qlims[1], shape[1])
    qz = np.linspace(qlims[3], qlims[2], shape[0])
    return np.meshgrid(qy, qz)


def gaussian_spot(qlims, shape, *, qy0, qz0, sigma, amplitude=1.0):
    qy, qz = source_grid(qlims, shape)
    return amplitude * np.exp(-((qy - qy0) ** 2 + (qz - qz0) ** 2) / (2 * sigma**2))


def write_out(path, image_top_row_highest_qz, qlims=None):
    np.savetxt(path, image_top_row_highest_qz, delimiter="\t", fmt="%.10e")
    if qlims is not None:
        path.with_suffix(".json").write_text(json.dumps({"qlims": list(qlims)}))
    return path


def write_h5(path, image_top_row_highest_qz, qlims, *, dataset="gisaxs", attribute="qlims"):
    with h5py.File(path, "w") as file:
        # hipgisaxs-2.0 counts detector rows upwards: row 0 is the lowest qz.
        node = file.create_dataset(dataset, data=image_top_row_highest_qz[::-1])
        if attribute is not None:
            node.attrs[attribute] = list(qlims)
    return path


@pytest.mark.parametrize("fmt", ["out", "h5"])
def test_gaussian_spot_lands_on_its_canonical_pixel_and_keeps_its_integral(tmp_path, fmt):
    row, column = 31, 87  # off-centre in both axes, so a flip or transpose moves it
    sigma, amplitude = 0.03, 5.0
    image = gaussian_spot(WIDE_QLIMS, (401, 301), qy0=qy_nm()[column], qz0=qz_nm()[row], sigma=sigma, amplitude=amplitude)
    if fmt == "out":
        frame = read_out(write_out(tmp_path / "spot.out", image), qlims=WIDE_QLIMS)
    else:
        frame = read_hdf5(write_h5(tmp_path / "spot.h5", image, WIDE_QLIMS))
    assert frame.image.shape == (125, 125) and frame.mask.all()
    assert np.unravel_index(np.argmax(frame.image), frame.image.shape) == (row, column)
    dqy, dqz = pixel_size_nm()
    integral = frame.image.sum() * dqy * dqz
    assert integral == pytest.approx(2 * np.pi * sigma**2 * amplitude, rel=1e-3)


def test_partial_q_range_masks_exactly_the_uncovered_pixels(tmp_path):
    qlims = (-0.5, 1.5, 0.3, 1.2)
    image = np.ones((50, 80))
    frame = read_out(write_out(tmp_path / "part.out", image, qlims))
    qy, qz = q_mesh()
    expected = (qy >= -0.5) & (qz >= 0.3) & (qz <= 1.2)
    np.testing.assert_array_equal(frame.mask, expected)
    np.testing.assert_allclose(frame.image[expected], 1.0, rtol=1e-12)
    assert np.all(frame.image[~expected] == 0.0)


def test_coarse_source_is_bilinear_interpolation_as_scipy(tmp_path):
    qlims = (-1.2, 1.1, -0.1, 2.3)
    image = np.random.default_rng(3).random((23, 17))
    frame = read_hdf5(write_h5(tmp_path / "coarse.h5", image, qlims))
    qy_source = np.linspace(qlims[0], qlims[1], image.shape[1])
    qz_source = np.linspace(qlims[2], qlims[3], image.shape[0])
    reference = RegularGridInterpolator((qz_source, qy_source), image[::-1], method="linear")
    qy, qz = q_mesh()
    expected = reference(np.stack([qz.ravel(), qy.ravel()], axis=1)).reshape(qy.shape)
    assert frame.mask.all()
    np.testing.assert_allclose(frame.image, expected, rtol=1e-10, atol=1e-12)


def test_fine_source_averaging_keeps_a_linear_ramp_in_the_interior():
    qlims = (-1.0, 1.0, 0.0, 2.0)  # exactly the canonical window, 4x finer
    qy, qz = source_grid(qlims, (497, 497))
    frame = resample_to_canonical(3.0 + 2.0 * qy - 0.5 * qz, qlims=qlims)
    canonical_qy, canonical_qz = q_mesh()
    interior = (slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(frame.image[interior], (3.0 + 2.0 * canonical_qy - 0.5 * canonical_qz)[interior], rtol=1e-12)
    assert frame.mask.all()


def test_non_finite_values_mask_only_their_neighbourhood():
    image = np.ones((125, 125))
    image[40, 60] = np.nan
    frame = resample_to_canonical(image, qlims=(-1.0, 1.0, 0.0, 2.0))
    assert not frame.mask[40, 60]
    assert frame.mask.sum() == 125 * 125 - 1
    assert np.all(frame.image[frame.mask] == pytest.approx(1.0))


def test_out_reads_q_range_from_sidecar_and_refuses_a_mismatched_one(tmp_path):
    image = gaussian_spot(WIDE_QLIMS, (200, 200), qy0=0.25, qz0=1.0, sigma=0.05)
    path = write_out(tmp_path / "a.out", image, WIDE_QLIMS)
    from_sidecar = read_out(path)
    np.testing.assert_array_equal(from_sidecar.image, read_out(path, qlims=WIDE_QLIMS).image)
    with pytest.raises(ValueError, match="do not match"):
        read_out(path, qlims=(-1.0, 1.0, 0.0, 2.0))


def test_out_without_q_range_is_refused(tmp_path):
    path = write_out(tmp_path / "bare.out", np.ones((5, 5)))
    with pytest.raises(ValueError, match="qlims"):
        read_out(path)


def test_sidecar_without_qlims_is_refused(tmp_path):
    path = write_out(tmp_path / "b.out", np.ones((5, 5)))
    path.with_suffix(".json").write_text(json.dumps({"qrange": [0, 1, 0, 1]}))
    with pytest.raises(ValueError, match="'qlims'"):
        read_out(path)


def test_hdf5_without_gisaxs_dataset_is_refused(tmp_path):
    path = write_h5(tmp_path / "x.h5", np.ones((5, 5)), WIDE_QLIMS, dataset="intensity")
    with pytest.raises(ValueError, match="'gisaxs'.*intensity"):
        read_hdf5(path)


def test_hdf5_without_qlims_attribute_is_refused(tmp_path):
    path = write_h5(tmp_path / "x.h5", np.ones((5, 5)), WIDE_QLIMS, attribute="qrange")
    with pytest.raises(ValueError, match="attribute 'qlims'"):
        read_hdf5(path)


@pytest.mark.parametrize(
    "qlims, message",
    [((0.0, 1.0, 0.0), "4 values"), ((1.0, -1.0, 0.0, 2.0), "qy_min < qy_max"), ((0, 1, 0, np.inf), "finite")],
)
def test_hdf5_with_malformed_qlims_is_refused(tmp_path, qlims, message):
    path = write_h5(tmp_path / "x.h5", np.ones((5, 5)), qlims)
    with pytest.raises(ValueError, match=message):
        read_hdf5(path)


def test_q_range_outside_the_canonical_window_is_refused():
    with pytest.raises(ValueError, match="does not overlap"):
        resample_to_canonical(np.ones((5, 5)), qlims=(2.0, 3.0, 0.0, 2.0))


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a HipGISAXS output"):
        read_hipgisaxs(tmp_path / "frame.tif")


def make_folder(tmp_path):
    (tmp_path / "bcc").mkdir()
    write_h5(tmp_path / "bcc" / "run0.h5", gaussian_spot(WIDE_QLIMS, (60, 60), qy0=0.1, qz0=1.0, sigma=0.1), WIDE_QLIMS)
    write_h5(tmp_path / "bcc" / "run1.h5", gaussian_spot(WIDE_QLIMS, (60, 60), qy0=0.2, qz0=1.0, sigma=0.1), WIDE_QLIMS)
    write_out(tmp_path / "sc100_a.out", gaussian_spot(WIDE_QLIMS, (60, 60), qy0=-0.3, qz0=0.5, sigma=0.1), WIDE_QLIMS)
    write_out(tmp_path / "sc100_b.out", gaussian_spot(WIDE_QLIMS, (60, 60), qy0=0.3, qz0=0.5, sigma=0.1), WIDE_QLIMS)
    write_out(tmp_path / "hcp_a.out", gaussian_spot(WIDE_QLIMS, (60, 60), qy0=0.0, qz0=1.5, sigma=0.1), WIDE_QLIMS)
    (tmp_path / "notes.txt").write_text("not an output")
    return {"bcc/*": "BCC110", "sc100_*.out": "SC100", "hcp_*": "hcp 0001"}


def test_label_files_applies_the_mapping(tmp_path):
    labelled = label_files(tmp_path, make_folder(tmp_path))
    names = {path.relative_to(tmp_path).as_posix(): index for path, index in labelled}
    assert names == {
        "bcc/run0.h5": class_index("BCC110"),
        "bcc/run1.h5": class_index("BCC110"),
        "sc100_a.out": class_index("SC100"),
        "sc100_b.out": class_index("SC100"),
        "hcp_a.out": class_index("HCP0001"),
    }


def test_mapping_with_unknown_class_name_is_refused(tmp_path):
    make_folder(tmp_path)
    with pytest.raises(ValueError, match="'FCC222'"):
        label_files(tmp_path, {"*.out": "FCC222"})


def test_mapping_pattern_matching_nothing_is_refused(tmp_path):
    make_folder(tmp_path)
    with pytest.raises(ValueError, match="fcc/\\*"):
        label_files(tmp_path, {"fcc/*": "FCC111", "*.out": "SC100"})


def test_file_claimed_by_two_classes_is_refused(tmp_path):
    make_folder(tmp_path)
    with pytest.raises(ValueError, match="sc100_a.out"):
        label_files(tmp_path, {"*.out": "SC100", "sc100_a*": "SC110"})


def test_folder_dataset_yields_every_file_once_with_its_label_and_mask(tmp_path):
    dataset = HipGISAXSFolder(tmp_path, make_folder(tmp_path), batch_size=2, shuffle=True, seed=1)
    batches = list(dataset)
    assert len(batches) == len(dataset) == 3
    indices = np.concatenate([batch.params["file_index"].numpy() for batch in batches])
    assert sorted(indices) == list(range(5))
    for batch in batches:
        assert batch.images.shape[1:] == (1, 125, 125) and batch.masks.dtype.is_floating_point is False
        for image, mask, label, index in zip(batch.images, batch.masks, batch.labels, batch.params["file_index"]):
            frame = read_hipgisaxs(dataset.files[index])
            np.testing.assert_allclose(image[0].numpy(), frame.image.astype(np.float32))
            np.testing.assert_array_equal(mask[0].numpy(), frame.mask)
            assert label == dataset.labels[index]


def test_folder_dataset_with_indices_yields_only_those_files(tmp_path):
    mapping = make_folder(tmp_path)
    dataset = HipGISAXSFolder(tmp_path, mapping, batch_size=4, indices=[4, 1])
    (batch,) = list(dataset)
    assert batch.params["file_index"].tolist() == [4, 1]
    assert batch.labels.tolist() == [dataset.labels[4], dataset.labels[1]]
