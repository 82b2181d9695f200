"""Fresnel reflection coefficient of the substrate for the DWBA.

The substrate has refractive index n = 1 - delta + i beta (see
:func:`xicam_gisaxs_cnn.physics.silicon_refractive_index`); the ambient is vacuum.
"""
from __future__ import annotations

import torch


def reflection_coefficient(alpha_rad: torch.Tensor, *, delta: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Fresnel reflection coefficient of the vacuum/substrate interface (s polarisation).

    Parameters
    ----------
    alpha_rad : Tensor
        Grazing angle of the wave above the surface, radians (>= 0).
    delta, beta : Tensor
        Refractive index decrement and absorption of the substrate,
        n = 1 - delta + i beta; broadcast against ``alpha_rad``.

    Returns
    -------
    Tensor, complex
        r = (kz - kz_s) / (kz + kz_s) with kz = k sin(alpha) and
        kz_s = k sqrt(n^2 - cos^2 alpha) on the branch with Im >= 0 (the wave
        decays into the substrate). |r| is close to 1 below the critical angle
        sqrt(2 delta) and falls as (alpha_c / 2 alpha)^2 far above it.

    Notes
    -----
    n^2 - cos^2 alpha is written as sin^2 alpha - 2 delta + delta^2 - beta^2
    + 2 i beta (1 - delta), which keeps float32 accurate near the critical angle.
    """
    sin_alpha = torch.sin(alpha_rad)
    real = sin_alpha**2 - 2.0 * delta + delta**2 - beta**2
    imag = torch.zeros_like(real) + 2.0 * beta * (1.0 - delta)
    kz_substrate = torch.sqrt(torch.complex(real, imag))
    return (sin_alpha - kz_substrate) / (sin_alpha + kz_substrate)
