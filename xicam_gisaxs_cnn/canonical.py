"""The canonical model input: a 125 x 125 image uniform in q (single source of truth).

Columns run in qy from -1.0 to +1.0 nm^-1 left to right; rows run in qz from
2.0 nm^-1 (row 0, top, as a detector image is shown) down to 0.0 nm^-1.
Pixels without data (below the horizon, masked, detector gaps) are flagged in a
boolean mask that travels with the image; they are never silently zero.
"""
from __future__ import annotations

import numpy as np

from .physics import wavelength_nm

IMAGE_SIZE: int = 125
"""Pixels along each side of the canonical image."""

QY_RANGE_NM: tuple[float, float] = (-1.0, 1.0)
"""qy of the first and last column centres, nm^-1."""

QZ_RANGE_NM: tuple[float, float] = (2.0, 0.0)
"""qz of the first (top) and last (bottom) row centres, nm^-1."""

DEFAULT_ENERGY_KEV: float = 10.0
"""Beam energy of the training simulations (paper: 10 keV)."""

DEFAULT_ALPHA_I_DEG: float = 0.2
"""Incidence angle of the training simulations, degrees."""

DEFAULT_SUBSTRATE: str = "Si"
"""Substrate of the training simulations."""

DEFAULT_WAVELENGTH_NM: float = wavelength_nm(DEFAULT_ENERGY_KEV)


def qy_nm() -> np.ndarray:
    """Column centres in qy, nm^-1, shape (125,), increasing left to right."""
    return np.linspace(*QY_RANGE_NM, IMAGE_SIZE)


def qz_nm() -> np.ndarray:
    """Row centres in qz, nm^-1, shape (125,), decreasing top to bottom."""
    return np.linspace(*QZ_RANGE_NM, IMAGE_SIZE)


def q_mesh() -> tuple[np.ndarray, np.ndarray]:
    """``(qy, qz)`` of every pixel, each of shape (125, 125), indexed ``[row, column]``."""
    qz, qy = np.meshgrid(qz_nm(), qy_nm(), indexing="ij")
    return qy, qz


def pixel_size_nm() -> tuple[float, float]:
    """Spacing of the grid ``(dqy, dqz)`` in nm^-1 (both positive)."""
    dqy = (QY_RANGE_NM[1] - QY_RANGE_NM[0]) / (IMAGE_SIZE - 1)
    dqz = (QZ_RANGE_NM[0] - QZ_RANGE_NM[1]) / (IMAGE_SIZE - 1)
    return dqy, dqz


def full_mask() -> np.ndarray:
    """A mask with every pixel valid, shape (125, 125), dtype bool (True = data)."""
    return np.ones((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)


def horizon_mask(*, energy_kev: float = DEFAULT_ENERGY_KEV, alpha_i_deg: float = DEFAULT_ALPHA_I_DEG) -> np.ndarray:
    """Pixels above the sample horizon (exit angle >= 0), shape (125, 125), True = data.

    Rows with qz < k sin(alpha_i) (about 0.18 nm^-1 at 10 keV, 0.2 deg) lie below the
    horizon, where a reflection-geometry pattern holds no data.
    """
    from .physics import wavenumber_nm

    k = wavenumber_nm(energy_kev)
    qy, qz = q_mesh()
    return qz >= k * np.sin(np.radians(alpha_i_deg))
