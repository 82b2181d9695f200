"""Scattering geometry: exit angles of detector pixels and the wavevector transfer.

Laboratory frame: x along the beam projected on the surface, y in the surface
plane, z along the substrate normal. The beam arrives at grazing angle alpha_i;
a scattered ray leaves at exit angle alpha_f above the surface and in-plane
angle 2theta_f. With k = 2 pi / lambda (nm^-1):

    qx = k (cos alpha_f cos 2theta_f - cos alpha_i)
    qy = k cos alpha_f sin 2theta_f
    qz = k (sin alpha_f + sin alpha_i)
"""
from __future__ import annotations

import math

import numpy as np

from xicam_gisaxs_cnn.physics import wavenumber_nm
from xicam_gisaxs_cnn.validation import check_scalar


def exit_angles_from_q(
    qy_nm: np.ndarray, qz_nm: np.ndarray, *, energy_kev: float, alpha_i_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exit angles of the pixels at given (qy, qz), qx following from the Ewald sphere.

    Parameters
    ----------
    qy_nm, qz_nm : ndarray
        Wavevector transfer of each pixel, nm^-1, same shape.
    energy_kev : float
        Beam energy, keV.
    alpha_i_deg : float
        Incidence angle, degrees.

    Returns
    -------
    alpha_f_deg, two_theta_f_deg : ndarray
        Exit angle above the surface and in-plane exit angle, degrees. Pixels
        below the horizon (qz < k sin alpha_i) get a negative alpha_f.

    Examples
    --------
    >>> a, t = exit_angles_from_q(np.array([0.0]), np.array([0.5]), energy_kev=10.0, alpha_i_deg=0.2)
    >>> round(float(a[0]), 4), float(t[0])
    (0.3653, 0.0)
    """
    energy_kev = check_scalar(energy_kev, "energy_kev", minimum=0.0, inclusive=False)
    alpha_i_deg = check_scalar(alpha_i_deg, "alpha_i_deg", minimum=0.0, inclusive=False)
    qy_nm, qz_nm = np.broadcast_arrays(np.asarray(qy_nm, float), np.asarray(qz_nm, float))
    k = wavenumber_nm(energy_kev)
    sin_alpha_f = qz_nm / k - math.sin(math.radians(alpha_i_deg))
    if np.any(np.abs(sin_alpha_f) > 1):
        raise ValueError(f"qz_nm must lie within the Ewald sphere (|qz| <= {k:.4g}), got {np.abs(qz_nm).max()}")
    cos_alpha_f = np.sqrt(1.0 - sin_alpha_f**2)
    sin_two_theta = qy_nm / (k * cos_alpha_f)
    if np.any(np.abs(sin_two_theta) > 1):
        raise ValueError(f"qy_nm must lie within the Ewald sphere, got {np.abs(qy_nm).max()}")
    return np.degrees(np.arcsin(sin_alpha_f)), np.degrees(np.arcsin(sin_two_theta))
