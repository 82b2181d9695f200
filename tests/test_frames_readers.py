"""Detector files of real sizes in every format: frames, multi-frame files and geometry survive a write/read."""
from __future__ import annotations

import json

import numpy as np
import pytest

from xicam_gisaxs_cnn.frames import (
    DetectorGeometry, canonical_axes_nm, geometry_from_mapping, pixel_from_q, read_frames, resample, write_frames,
)

PILATUS_1M = (1043, 981)
PILATUS_2M = (1679, 1475)
GEOMETRY = DetectorGeometry(energy_kev=13.5, distance_mm=3000.0, pixel_size_mm=(0.172, 0.172),
                            beam_centre_px=(490.5, 1000.25), incidence_angle_deg=0.15, tilt_deg=0.5, roll_deg=-0.25)


def _assert_same_geometry(values: dict, expected: DetectorGeometry) -> None:
    geometry = geometry_from_mapping(values)
    for name, value in expected.to_dict().items():
        np.testing.assert_allclose(getattr(geometry, name), value, rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("suffix", [".edf", ".tif", ".h5", ".cbf"])
def test_single_frame_and_geometry_survive_each_format(tmp_path, suffix):
    frame = np.random.default_rng(0).poisson(5, PILATUS_1M).astype(np.int32)
    frame[195:212] = -1
    path = write_frames(tmp_path / f"frame{suffix}", frame, geometry=GEOMETRY)
    (read,) = list(read_frames(path))
    np.testing.assert_array_equal(read.data, frame)
    assert read.source == str(path) and read.index == 0
    _assert_same_geometry(read.geometry_values, GEOMETRY)


@pytest.mark.parametrize("suffix", [".edf", ".tif", ".nxs"])
def test_multi_frame_files_yield_every_frame_in_order(tmp_path, suffix):
    frames = np.stack([np.full(PILATUS_1M, value, dtype=np.int32) for value in (1, 2, 3)])
    path = write_frames(tmp_path / f"stack{suffix}", frames, geometry=GEOMETRY)
    read = list(read_frames(path))
    assert [int(f.data[0, 0]) for f in read] == [1, 2, 3]
    assert [f.source for f in read] == [f"{path}[{i}]" for i in range(3)]
    _assert_same_geometry(read[2].geometry_values, GEOMETRY)


def test_pilatus_2m_cbf_spot_lands_at_its_q_through_the_file_path(tmp_path):
    geometry = DetectorGeometry(energy_kev=10.0, distance_mm=3000.0, pixel_size_mm=(0.172, 0.172),
                                beam_centre_px=(737.0, 1600.0), incidence_angle_deg=0.2)
    qy_axis, qz_axis = canonical_axes_nm(1.0)
    x0, y0 = pixel_from_q(qy_axis[80], qz_axis[50], geometry=geometry)
    y, x = np.mgrid[0:PILATUS_2M[0], 0:PILATUS_2M[1]]
    frame = (20 + 5e4 * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / 8.0)).astype(np.int32)
    path = write_frames(tmp_path / "pilatus2m.cbf", frame, geometry=geometry)
    (read,) = list(read_frames(path))
    assert read.data.shape == PILATUS_2M
    image, mask = resample(read.data, geometry=geometry_from_mapping(read.geometry_values))
    assert np.unravel_index(np.argmax(image), image.shape) == (50, 80) and mask[50, 80]


def test_sidecar_overrides_header_and_caller_overrides_both(tmp_path):
    path = write_frames(tmp_path / "frame.tif", np.ones((195, 487), dtype=np.int32), geometry=GEOMETRY)
    (tmp_path / "frame.tif.json").write_text(json.dumps({"distance_mm": 1234.0, "incidence_angle_deg": 0.3}))
    (read,) = list(read_frames(path, geometry_values={"incidence_angle_deg": 0.1}))
    assert read.geometry_values["distance_mm"] == 1234.0
    assert read.geometry_values["incidence_angle_deg"] == 0.1
    assert read.geometry_values["beam_centre_px"] == pytest.approx((490.5, 1000.25))


def test_energy_given_by_the_caller_replaces_a_wavelength_from_the_file(tmp_path):
    path = write_frames(tmp_path / "frame.edf", np.ones((195, 487), dtype=np.int32), geometry=GEOMETRY)
    (tmp_path / "frame.edf.json").write_text(json.dumps({"wavelength_nm": 0.1}))
    (from_file,) = list(read_frames(path))
    assert from_file.geometry_values["wavelength_nm"] == 0.1 and "energy_kev" not in from_file.geometry_values
    (read,) = list(read_frames(path, geometry_values={"energy_kev": 12.0}))
    assert read.geometry_values["energy_kev"] == 12.0 and "wavelength_nm" not in read.geometry_values
    assert geometry_from_mapping(read.geometry_values).energy_kev == 12.0


def test_pilatus_text_header_with_other_units_is_read(tmp_path):
    import tifffile

    header = ("# Detector: PILATUS 1M\n# Pixel_size 172e-6 m x 172e-6 m\n# Wavelength 1.0332 A\n"
              "# Detector_distance 2500.0 mm\n# Beam_xy (487.30, 211.80) pixels\n# Incidence_angle 0.25 deg.")
    tifffile.imwrite(tmp_path / "pilatus.tif", np.zeros(PILATUS_1M, dtype=np.int32), description=header)
    (read,) = list(read_frames(tmp_path / "pilatus.tif"))
    geometry = geometry_from_mapping(read.geometry_values)
    assert geometry.wavelength_nm == pytest.approx(0.10332)
    assert geometry.distance_mm == pytest.approx(2500.0)
    assert geometry.pixel_size_mm == pytest.approx((0.172, 0.172))
    assert geometry.beam_centre_px == (487.3, 211.8) and geometry.incidence_angle_deg == 0.25


def test_files_without_geometry_leave_it_to_the_caller(tmp_path):
    path = write_frames(tmp_path / "bare.h5", np.ones((195, 487), dtype=np.float32))
    (read,) = list(read_frames(path))
    with pytest.raises(ValueError, match="detector geometry lacks energy_kev, distance_mm"):
        geometry_from_mapping(read.geometry_values)


def test_unreadable_files_raise_errors_naming_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.cbf"
    corrupt.write_bytes(b"this is not a CBF file")
    with pytest.raises(ValueError, match=f"cannot read {corrupt} as cbf"):
        list(read_frames(corrupt))
    with pytest.raises(FileNotFoundError, match="no such detector file"):
        list(read_frames(tmp_path / "missing.edf"))
    with pytest.raises(ValueError, match="unknown detector file suffix '.png'"):
        list(read_frames(tmp_path / "image.png"))
    with pytest.raises(ValueError, match="a CBF file holds one frame, got 2"):
        write_frames(tmp_path / "two.cbf", np.zeros((2, 10, 10), dtype=np.int32))
