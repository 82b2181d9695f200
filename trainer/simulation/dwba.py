"""Building blocks of the DWBA intensity: sphere form factor, Dirichlet kernels, the four terms.

All functions are batched torch functions without state; they broadcast their
arguments and keep the dtype and device of their inputs.
"""
from __future__ import annotations

import math

import torch

_SERIES_LIMIT = 0.05
"""Below this qR the sphere form factor uses its Taylor series (no 0/0)."""

_BROADENING_TABLE_POINTS = 2049
"""Samples of a broadened kernel over half a period [0, pi]."""

_BROADENING_CUTOFF = 5.0
"""Fourier terms of a broadened kernel are kept up to n = cutoff / sigma (weight e^-12.5)."""


def sphere_form_factor(q_nm: torch.Tensor, radius_nm: torch.Tensor) -> torch.Tensor:
    """Form factor of a homogeneous sphere about its centre, nm^3.

    Parameters
    ----------
    q_nm : Tensor
        Modulus of the wavevector transfer, nm^-1 (real, >= 0).
    radius_nm : Tensor
        Sphere radius, nm; broadcast against ``q_nm``.

    Returns
    -------
    Tensor
        F(q) = 4 pi R^3 (sin qR - qR cos qR) / (qR)^3, real; F(0) = 4/3 pi R^3.
    """
    x = q_nm * radius_nm
    small = x < _SERIES_LIMIT
    safe = torch.where(small, torch.ones_like(x), x)
    exact = 3.0 * (torch.sin(safe) - safe * torch.cos(safe)) / safe**3
    series = 1.0 - x**2 / 10.0 + x**4 / 280.0
    return (4.0 * math.pi / 3.0) * radius_nm**3 * torch.where(small, series, exact)


def _reduced_phase(phase: torch.Tensor) -> torch.Tensor:
    """phase - 2 pi m, the representative in [-pi, pi]."""
    return phase - 2.0 * math.pi * torch.round(phase / (2.0 * math.pi))


def dirichlet_amplitude(phase: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Sum of a row of ``count`` unit scatterers, sum_{m=0}^{N-1} exp(i m phase).

    Parameters
    ----------
    phase : Tensor
        Phase step between neighbours, q . a (radians).
    count : Tensor
        Number of scatterers N >= 1 (integer-valued), broadcast against ``phase``.

    Returns
    -------
    Tensor, complex
        exp(i (N-1) x / 2) sin(N x / 2) / sin(x / 2) with x the phase reduced to
        [-pi, pi] (the expression is 2 pi periodic), N at the Bragg condition.
    """
    x = _reduced_phase(phase)
    half = 0.5 * x
    sin_half = torch.sin(half)
    on_peak = sin_half.abs() < 1e-6
    ratio = torch.sin(count * half) / torch.where(on_peak, torch.ones_like(sin_half), sin_half)
    ratio = torch.where(on_peak, count * torch.ones_like(x), ratio)
    angle = (count - 1.0) * half
    return torch.complex(ratio * torch.cos(angle), ratio * torch.sin(angle))


def dirichlet_intensity(phase: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """|sum_{m=0}^{N-1} exp(i m phase)|^2 = sin^2(N x/2) / sin^2(x/2), N^2 at the Bragg condition."""
    x = _reduced_phase(phase)
    sin_half = torch.sin(0.5 * x)
    on_peak = sin_half.abs() < 1e-6
    ratio = torch.sin(count * 0.5 * x) / torch.where(on_peak, torch.ones_like(sin_half), sin_half)
    return torch.where(on_peak, (count * torch.ones_like(x)) ** 2, ratio**2)


def broadened_dirichlet_intensity(
    phase: torch.Tensor, count: torch.Tensor, sigma_phase: torch.Tensor
) -> torch.Tensor:
    """The Dirichlet intensity averaged over a Gaussian spread of the phase.

    Parameters
    ----------
    phase : Tensor, shape (N, ...)
        Phase step q . a, radians; the leading axis is the batch.
    count : Tensor, shape (N,)
        Number of scatterers per row.
    sigma_phase : Tensor, shape (N,)
        Standard deviation of the phase (resolution sigma_q times the period a), > 0.

    Returns
    -------
    Tensor, shape of ``phase``
        sum_{|n|<N} (N - |n|) exp(-n^2 sigma^2 / 2) cos(n x): the Fejer kernel
        convolved with a Gaussian, exact. It is evaluated on a table over half a
        period and interpolated, so its cost does not grow with N, and it keeps
        the integrated intensity 2 pi N of every Bragg peak however narrow the
        peak is compared with a pixel.
    """
    batch = phase.shape[0]
    dtype, device = phase.dtype, phase.device
    count = count.to(dtype)
    sigma_phase = sigma_phase.to(dtype)
    n_max = int(min(float(count.max()) - 1.0, math.ceil(_BROADENING_CUTOFF / float(sigma_phase.min()))))
    grid = torch.linspace(0.0, math.pi, _BROADENING_TABLE_POINTS, dtype=torch.float64, device=device)
    orders = torch.arange(1, n_max + 1, dtype=torch.float64, device=device)
    weights = (count.double()[:, None] - orders).clamp_min(0.0) * torch.exp(
        -0.5 * (orders * sigma_phase.double()[:, None]) ** 2
    )
    table = count.double()[:, None] + 2.0 * weights @ torch.cos(orders[:, None] * grid[None, :])
    table = table.to(dtype)
    position = _reduced_phase(phase).abs().reshape(batch, -1) * ((_BROADENING_TABLE_POINTS - 1) / math.pi)
    lower = position.floor().clamp(max=_BROADENING_TABLE_POINTS - 2)
    fraction = position - lower
    lower = lower.long()
    value = torch.gather(table, 1, lower) * (1.0 - fraction) + torch.gather(table, 1, lower + 1) * fraction
    return value.reshape(phase.shape).clamp_min(0.0)


PATH_SIGNS: tuple[tuple[int, int], ...] = ((1, 1), (1, -1), (-1, 1), (-1, -1))
"""Signs (of kz_f, of kz_i) in qz of the four DWBA paths, in :func:`dwba_terms` order."""


def dwba_terms(
    kz_i: torch.Tensor, kz_f: torch.Tensor, r_i: torch.Tensor, r_f: torch.Tensor, *, born: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertical wavevector transfers and weights of the four DWBA scattering paths.

    Parameters
    ----------
    kz_i, kz_f : Tensor
        k sin(alpha_i) and k sin(alpha_f), nm^-1 (both >= 0), broadcast together.
    r_i, r_f : Tensor, complex
        Fresnel reflection coefficients at alpha_i and alpha_f.
    born : bool
        True keeps the first path only (Born approximation, no substrate).

    Returns
    -------
    qz : Tensor, shape (4, ...) or (1, ...)
        qz of the paths: direct, reflected before, reflected after, reflected
        before and after scattering: kz_f + kz_i, kz_f - kz_i, -(kz_f - kz_i),
        -(kz_f + kz_i).
    weight : Tensor, complex, same shape
        1, r_i, r_f, r_i r_f.
    """
    kz_i, kz_f = torch.broadcast_tensors(kz_i, kz_f)
    if born:
        return (kz_f + kz_i)[None], torch.ones_like(kz_f, dtype=r_f.dtype)[None]
    qz = torch.stack([sign_f * kz_f + sign_i * kz_i for sign_f, sign_i in PATH_SIGNS])
    r_i, r_f = torch.broadcast_tensors(r_i, r_f)
    weight = torch.stack((torch.ones_like(r_f), r_i, r_f, r_i * r_f))
    return qz, weight
