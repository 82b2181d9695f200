"""Physical constants and material optical constants (single source of truth).

Lengths in nm, energies in keV, angles in degrees at interfaces and radians inside.
"""
from __future__ import annotations

import math

import numpy as np

HC_KEV_NM: float = 1.239841984
"""Planck constant times speed of light, keV nm (CODATA 2018)."""

CLASSICAL_ELECTRON_RADIUS_NM: float = 2.8179403262e-6
"""Thomson scattering length r_e, nm."""

SILICON_ELECTRON_DENSITY_NM3: float = 699.5
"""Electron density of crystalline Si (2.329 g/cm^3, Z=14, A=28.0855), electrons per nm^3."""

SILICON_BETA_10KEV: float = 7.37e-8
"""Imaginary part of Si's refractive index decrement at 10 keV (absorption)."""


def wavelength_nm(energy_kev: float | np.ndarray) -> float | np.ndarray:
    """X-ray wavelength in nm for a photon energy in keV (10 keV -> 0.12398 nm); element-wise for an array."""
    if not np.all(np.asarray(energy_kev) > 0):
        raise ValueError(f"energy_kev must be > 0, got {energy_kev}")
    return HC_KEV_NM / energy_kev


def wavenumber_nm(energy_kev: float | np.ndarray) -> float | np.ndarray:
    """Vacuum wavenumber k0 = 2 pi / lambda in nm^-1; element-wise for an array."""
    return 2.0 * math.pi / wavelength_nm(energy_kev)


def silicon_refractive_index(energy_kev: float) -> tuple[float, float]:
    """Refractive index decrement ``(delta, beta)`` of Si, n = 1 - delta + i beta.

    ``delta`` follows from the electron density far from absorption edges
    (delta = r_e lambda^2 rho_e / 2 pi; 4.87e-6 at 10 keV); ``beta`` scales as
    lambda^4 from its 10 keV value, adequate between the Si K edge and 30 keV.
    """
    lam = wavelength_nm(energy_kev)
    delta = CLASSICAL_ELECTRON_RADIUS_NM * lam**2 * SILICON_ELECTRON_DENSITY_NM3 / (2.0 * math.pi)
    beta = SILICON_BETA_10KEV * (lam / wavelength_nm(10.0)) ** 4
    return delta, beta


def critical_angle_deg(delta: float) -> float:
    """Critical angle of total external reflection, degrees: alpha_c = sqrt(2 delta)."""
    return math.degrees(math.sqrt(2.0 * delta))
