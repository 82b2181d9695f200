"""Detector pixel -> exit angles (alpha_f, 2theta_f) -> reciprocal space (qy, qz), and back.

Notes
-----
The lab frame has x along the direct beam, y horizontal (to the right as the
detector is viewed from the sample, i.e. increasing column) and z up. The sample
surface is tilted up by the incidence angle alpha_i about y, so a unit direction
``n`` in the lab has, in the sample frame,

    n_s = (n_x cos a_i + n_z sin a_i,  n_y,  -n_x sin a_i + n_z cos a_i),

the exit angles are ``alpha_f = asin(n_s,z)`` and ``2theta_f = atan2(n_s,y, n_s,x)``,
and with k = 2 pi / lambda the wave-vector transfer is

    qy = k cos(alpha_f) sin(2theta_f),    qz = k (sin(alpha_f) + sin(alpha_i)).

The sample horizon (alpha_f = 0) lies distance * tan(alpha_i) above the beam
centre on an untilted detector; the specular spot at 2 alpha_i above the horizon
has qz = 2 k sin(alpha_i).
"""
from __future__ import annotations

import math

import numpy as np

from ..physics import wavenumber_nm
from .geometry import DetectorGeometry


def exit_angles_deg(x_px: np.ndarray, y_px: np.ndarray, *, geometry: DetectorGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Exit angles ``(alpha_f, 2theta_f)`` in degrees of detector pixel positions.

    Parameters
    ----------
    x_px, y_px : array_like
        Column and row coordinates, px (broadcast together).
    geometry : DetectorGeometry
        Keyword-only detector geometry.

    Returns
    -------
    alpha_f, two_theta_f : numpy.ndarray
        Exit angle above the sample surface and in-plane scattering angle, degrees.
    """
    n_x, n_y, n_z = _sample_directions(x_px, y_px, geometry)
    return np.degrees(np.arcsin(np.clip(n_z, -1.0, 1.0))), np.degrees(np.arctan2(n_y, n_x))


def q_from_exit_angles_nm(
    alpha_f_deg: np.ndarray, two_theta_f_deg: np.ndarray, *, energy_kev: float, incidence_angle_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(qy, qz)`` in nm^-1 from exit angles in degrees (see the module Notes)."""
    k = wavenumber_nm(energy_kev)
    alpha_f = np.radians(alpha_f_deg)
    two_theta_f = np.radians(two_theta_f_deg)
    qy = k * np.cos(alpha_f) * np.sin(two_theta_f)
    qz = k * (np.sin(alpha_f) + math.sin(math.radians(incidence_angle_deg)))
    return qy, qz


def pixel_q_nm(x_px: np.ndarray, y_px: np.ndarray, *, geometry: DetectorGeometry) -> tuple[np.ndarray, np.ndarray]:
    """``(qy, qz)`` in nm^-1 of detector pixel positions ``(x, y)`` in px."""
    n_x, n_y, n_z = _sample_directions(x_px, y_px, geometry)
    k = wavenumber_nm(geometry.energy_kev)
    return k * n_y, k * (n_z + math.sin(math.radians(geometry.incidence_angle_deg)))


def pixel_from_q(qy_nm: np.ndarray, qz_nm: np.ndarray, *, geometry: DetectorGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Detector position ``(x, y)`` in px where a reflection ``(qy, qz)`` in nm^-1 lands.

    The inverse of :func:`pixel_q_nm` for forward scattering (qx chosen so the
    exit wave has the vacuum wavenumber); NaN where no forward exit direction or
    no intersection with the detector plane exists.
    """
    k = wavenumber_nm(geometry.energy_kev)
    alpha_i = math.radians(geometry.incidence_angle_deg)
    s_y = np.asarray(qy_nm, dtype=np.float64) / k
    s_z = np.asarray(qz_nm, dtype=np.float64) / k - math.sin(alpha_i)
    s_x_squared = 1.0 - s_y**2 - s_z**2
    s_x = np.sqrt(np.where(s_x_squared >= 0, s_x_squared, np.nan))
    n = np.stack(np.broadcast_arrays(
        s_x * math.cos(alpha_i) - s_z * math.sin(alpha_i), s_y, s_x * math.sin(alpha_i) + s_z * math.cos(alpha_i)
    ), axis=-1)
    origin, e_u, e_v = _detector_frame(geometry)
    normal = np.cross(e_u, e_v)
    along = n @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(along > 0, (origin @ normal) / along, np.nan)
    point = t[..., None] * n - origin
    u_mm, v_mm = point @ e_u, point @ e_v
    x0, y0 = geometry.beam_centre_px
    px, py = geometry.pixel_size_mm
    return x0 + u_mm / px, y0 - v_mm / py


def _detector_frame(geometry: DetectorGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beam-centre position and the unit vectors along +x (columns) and up (-rows) of the detector, lab mm."""
    tilt, roll = math.radians(geometry.tilt_deg), math.radians(geometry.roll_deg)
    origin = np.array([geometry.distance_mm, 0.0, 0.0])
    e_u = np.array([0.0, math.cos(roll), math.sin(roll)])
    e_v = np.array([-math.sin(tilt), -math.cos(tilt) * math.sin(roll), math.cos(tilt) * math.cos(roll)])
    return origin, e_u, e_v


def _sample_directions(x_px, y_px, geometry: DetectorGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit exit directions of pixels in the sample frame, components (x, y, z)."""
    x0, y0 = geometry.beam_centre_px
    px, py = geometry.pixel_size_mm
    u_mm = (np.asarray(x_px, dtype=np.float64) - x0) * px
    v_mm = (y0 - np.asarray(y_px, dtype=np.float64)) * py
    u_mm, v_mm = np.broadcast_arrays(u_mm, v_mm)
    origin, e_u, e_v = _detector_frame(geometry)
    lab = [origin[i] + u_mm * e_u[i] + v_mm * e_v[i] for i in range(3)]
    length = np.sqrt(lab[0] ** 2 + lab[1] ** 2 + lab[2] ** 2)
    n_x, n_y, n_z = (component / length for component in lab)
    alpha_i = math.radians(geometry.incidence_angle_deg)
    cos_i, sin_i = math.cos(alpha_i), math.sin(alpha_i)
    return n_x * cos_i + n_z * sin_i, n_y, -n_x * sin_i + n_z * cos_i
