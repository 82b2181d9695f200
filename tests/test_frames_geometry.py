"""Detector geometry validation and pixel -> (alpha_f, 2theta_f) -> (qy, qz), against an independent vector reference."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from xicam_gisaxs_cnn.frames import (
    DetectorGeometry, exit_angles_deg, geometry_from_mapping, pixel_from_q, pixel_q_nm, q_from_exit_angles_nm,
)
from xicam_gisaxs_cnn.physics import wavenumber_nm

PILATUS_1M = (1043, 981)


def _geometry(**changes) -> DetectorGeometry:
    values = dict(energy_kev=13.5, distance_mm=5000.0, pixel_size_mm=(0.172, 0.172), beam_centre_px=(490.0, 900.0),
                  incidence_angle_deg=0.2)
    values.update(changes)
    return DetectorGeometry(**values)


def _reference_q(geometry: DetectorGeometry, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """q = k (k_f - k_i) in the sample frame, built with scipy rotations (no shared code with qmap)."""
    detector = Rotation.from_euler("yx", [-geometry.tilt_deg, geometry.roll_deg], degrees=True)
    e_u, e_v = detector.apply([0.0, 1.0, 0.0]), detector.apply([0.0, 0.0, 1.0])
    u = (x - geometry.beam_centre_px[0]) * geometry.pixel_size_mm[0]
    v = (geometry.beam_centre_px[1] - y) * geometry.pixel_size_mm[1]
    points = np.array([geometry.distance_mm, 0.0, 0.0]) + u[:, None] * e_u + v[:, None] * e_v
    directions = points / np.linalg.norm(points, axis=1, keepdims=True)
    to_sample = Rotation.from_euler("y", geometry.incidence_angle_deg, degrees=True)
    k = 2 * math.pi / (1.239841984 / geometry.energy_kev)
    q = k * (to_sample.apply(directions) - to_sample.apply([1.0, 0.0, 0.0]))
    return q[:, 1], q[:, 2]


@pytest.mark.parametrize("tilt, roll", [(0.0, 0.0), (3.0, -2.0)])
def test_pixel_q_matches_independent_vector_reference(tilt, roll):
    geometry = _geometry(tilt_deg=tilt, roll_deg=roll, distance_mm=1500.0)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 981, 200), rng.uniform(0, 1043, 200)
    qy, qz = pixel_q_nm(x, y, geometry=geometry)
    ref_qy, ref_qz = _reference_q(geometry, x, y)
    np.testing.assert_allclose(qy, ref_qy, rtol=0, atol=1e-9)
    np.testing.assert_allclose(qz, ref_qz, rtol=0, atol=1e-9)


def test_exit_angles_give_the_same_q_as_pixels():
    geometry = _geometry(tilt_deg=1.0, roll_deg=0.5)
    x, y = np.array([10.0, 490.0, 900.0]), np.array([100.0, 600.0, 20.0])
    alpha_f, two_theta_f = exit_angles_deg(x, y, geometry=geometry)
    qy, qz = q_from_exit_angles_nm(alpha_f, two_theta_f, energy_kev=13.5, incidence_angle_deg=0.2)
    np.testing.assert_allclose((qy, qz), pixel_q_nm(x, y, geometry=geometry), atol=1e-9)


def test_horizon_and_specular_spot_sit_where_the_geometry_puts_them():
    geometry = _geometry()
    rise_px = geometry.distance_mm * math.tan(math.radians(0.2)) / 0.172
    alpha_f, two_theta_f = exit_angles_deg(490.0, 900.0 - rise_px, geometry=geometry)
    assert abs(float(alpha_f)) < 1e-9 and abs(float(two_theta_f)) < 1e-9
    specular_px = geometry.distance_mm * math.tan(math.radians(0.4)) / 0.172
    _, qz = pixel_q_nm(490.0, 900.0 - specular_px, geometry=geometry)
    assert float(qz) == pytest.approx(2 * wavenumber_nm(13.5) * math.sin(math.radians(0.2)), rel=1e-6)


def test_one_pilatus_pixel_at_5_m_and_13_5_kev_is_0_0024_per_nm():
    qy, _ = pixel_q_nm(np.array([490.0, 491.0]), np.array([900.0, 900.0]), geometry=_geometry())
    assert qy[1] - qy[0] == pytest.approx(0.00235, abs=0.00005)


def test_pixel_from_q_inverts_pixel_q_on_a_tilted_detector():
    geometry = _geometry(tilt_deg=2.0, roll_deg=1.0, distance_mm=2000.0)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 981, 100), rng.uniform(0, 700, 100)
    back_x, back_y = pixel_from_q(*pixel_q_nm(x, y, geometry=geometry), geometry=geometry)
    np.testing.assert_allclose(back_x, x, atol=1e-6)
    np.testing.assert_allclose(back_y, y, atol=1e-6)


@pytest.mark.parametrize("changes, message", [
    ({"distance_mm": 0.0}, "distance_mm must be > 0"),
    ({"energy_kev": 40.0}, "energy_kev must be within 5.0-30.0 keV"),
    ({"incidence_angle_deg": 0.0}, "incidence_angle_deg"),
    ({"pixel_size_mm": (0.172, -1)}, "pixel_size_mm must be > 0"),
    ({"beam_centre_px": (1.0,)}, "beam_centre_px must be a pair"),
    ({"tilt_deg": float("nan")}, "tilt_deg must be finite"),
])
def test_implausible_geometry_is_refused_naming_the_problem(changes, message):
    with pytest.raises(ValueError, match=message):
        _geometry(**changes)


def test_beam_centre_off_the_detector_is_refused():
    with pytest.raises(ValueError, match=r"beam_centre_px \(2000.0, 900.0\) lies off the detector \(981 x 1043 px"):
        _geometry(beam_centre_px=(2000.0, 900.0)).check_detector_shape(PILATUS_1M)
    _geometry().check_detector_shape(PILATUS_1M)


def test_geometry_from_mapping_reads_wavelength_and_names_missing_keys():
    geometry = geometry_from_mapping({"wavelength_nm": 0.1, "distance_mm": 3000, "pixel_size_mm": 0.172,
                                      "beam_centre_px": [400, 800], "incidence_angle_deg": 0.15})
    assert geometry.energy_kev == pytest.approx(12.39841984)
    assert geometry.pixel_size_mm == (0.172, 0.172)
    assert geometry_from_mapping(geometry.to_dict()) == geometry
    with pytest.raises(ValueError, match="detector geometry lacks distance_mm, incidence_angle_deg"):
        geometry_from_mapping({"energy_kev": 10, "pixel_size_mm": 0.172, "beam_centre_px": [1, 1]})
    with pytest.raises(ValueError, match=r"unknown geometry keys \['centre'\]"):
        geometry_from_mapping({"centre": 1})
