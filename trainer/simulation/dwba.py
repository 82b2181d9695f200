"""Building blocks of the DWBA intensity: sphere form factor, Dirichlet kernels, the four terms.

All functions are batched torch functions without state; they broadcast their
arguments and keep the dtype and device of their inputs.
"""
from __future__ import annotations

import math
from typing import NamedTuple

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
    safe = x.masked_fill(small, 1.0)
    exact = 3.0 * (torch.sin(safe) - safe * torch.cos(safe)) / (safe * safe * safe)
    square = x * x
    series = 1.0 - square * (0.1 - square / 280.0)
    return (4.0 * math.pi / 3.0) * (radius_nm * radius_nm * radius_nm) * torch.where(small, series, exact)


def _reduced_phase(phase: torch.Tensor) -> torch.Tensor:
    """phase - 2 pi m, the representative in [-pi, pi]."""
    return phase - 2.0 * math.pi * torch.round(phase / (2.0 * math.pi))


def _dirichlet_ratio(half: torch.Tensor, count: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """sin(N x / 2) / sin(x / 2) (N at x = 0) in ``dtype``, given half the reduced phase x.

    The sine arguments are reduced in the precision of ``half`` before the cast,
    so a float64 phase keeps float32 results accurate near the kernel's zeros.
    """
    count_half = _reduced_phase(count * half).to(dtype)
    sin_half = torch.sin(half.to(dtype))
    on_peak = sin_half.abs() < 1e-6
    ratio = torch.sin(count_half) / sin_half.masked_fill(on_peak, 1.0)
    return torch.where(on_peak, count.to(dtype), ratio)


def dirichlet_amplitude(phase: torch.Tensor, count: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Sum of a row of ``count`` unit scatterers, sum_{m=0}^{N-1} exp(i m phase).

    Parameters
    ----------
    phase : Tensor
        Phase step between neighbours, q . a (radians); float64 for accuracy.
    count : Tensor
        Number of scatterers N >= 1 (integer-valued), broadcast against ``phase``.
    dtype : torch.dtype, optional
        Real dtype of the result's parts (default: that of ``phase``).

    Returns
    -------
    Tensor, complex
        exp(i (N-1) x / 2) sin(N x / 2) / sin(x / 2) with x the phase reduced to
        [-pi, pi] (the expression is 2 pi periodic), N at the Bragg condition.
    """
    dtype = dtype or phase.dtype
    count = torch.as_tensor(count, dtype=phase.dtype, device=phase.device)
    half = 0.5 * _reduced_phase(phase)
    ratio = _dirichlet_ratio(half, count, dtype)
    angle = _reduced_phase((count - 1.0) * half).to(dtype)
    return torch.complex(ratio * torch.cos(angle), ratio * torch.sin(angle))


def dirichlet_intensity(phase: torch.Tensor, count: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """|sum_{m=0}^{N-1} exp(i m phase)|^2 = sin^2(N x/2) / sin^2(x/2), N^2 at the Bragg condition.

    Arguments as :func:`dirichlet_amplitude`.
    """
    count = torch.as_tensor(count, dtype=phase.dtype, device=phase.device)
    ratio = _dirichlet_ratio(0.5 * _reduced_phase(phase), count, dtype or phase.dtype)
    return ratio * ratio


def broadened_dirichlet_intensity(
    phase: torch.Tensor, count: torch.Tensor, sigma_phase: torch.Tensor, *, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """The Dirichlet intensity averaged over a Gaussian spread of the phase.

    Parameters
    ----------
    phase : Tensor, shape (N, ...)
        Phase step q . a, radians; the leading axis is the batch.
    count : Tensor, shape (N,)
        Number of scatterers per row.
    sigma_phase : Tensor, shape (N,)
        Standard deviation of the phase (resolution sigma_q times the period a),
        >= 0 (0: the exact kernel, sampled on the table).
    dtype : torch.dtype, optional
        Dtype of the result (default: that of ``phase``).

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
    dtype, device = dtype or phase.dtype, phase.device
    n_max = int(float(count.max()) - 1.0)
    if float(sigma_phase.min()) > 0:  # higher orders are damped away
        n_max = min(n_max, math.ceil(_BROADENING_CUTOFF / float(sigma_phase.min())))
    grid = torch.linspace(0.0, math.pi, _BROADENING_TABLE_POINTS, dtype=torch.float64, device=device)
    orders = torch.arange(1, n_max + 1, dtype=torch.float64, device=device)
    weights = (count.double()[:, None] - orders).clamp_min(0.0) * torch.exp(
        -0.5 * (orders * sigma_phase.double()[:, None]) ** 2
    )
    table = count.double()[:, None] + 2.0 * weights @ torch.cos(orders[:, None] * grid[None, :])
    table = table.to(dtype)
    position = _reduced_phase(phase).abs().reshape(batch, -1) * ((_BROADENING_TABLE_POINTS - 1) / math.pi)
    lower = position.floor().clamp(max=_BROADENING_TABLE_POINTS - 2)
    fraction = (position - lower).to(dtype)
    lower = lower.long()
    value = torch.gather(table, 1, lower) * (1.0 - fraction) + torch.gather(table, 1, lower + 1) * fraction
    return value.reshape(phase.shape).clamp_min(0.0)


class Path(NamedTuple):
    """One DWBA scattering path: qz = sign * (kz_f + kz_i) ("s") or sign * (kz_f - kz_i) ("d")."""

    transfer: str
    sign: int
    weight: torch.Tensor


def dwba_paths(r_i: torch.Tensor, r_f: torch.Tensor, *, born: bool = False) -> tuple[Path, ...]:
    """The four DWBA paths of a particle above a reflecting substrate.

    Parameters
    ----------
    r_i, r_f : Tensor, complex
        Fresnel reflection coefficients at the incidence and exit angles.
    born : bool
        True keeps the direct path only (Born approximation, no substrate).

    Returns
    -------
    tuple of Path
        Direct (qz = kz_f + kz_i, weight 1), reflected before scattering
        (kz_f - kz_i, r_i), reflected after (-(kz_f - kz_i), r_f), reflected
        before and after (-(kz_f + kz_i), r_i r_f). With q = k_f - k_i and the
        phase exp(-i q . r) of a scatterer at r, the weights carry no conjugate
        (BornAgain, with q = k_i - k_f, writes the same sum conjugated).
    """
    if born:
        return (Path("s", 1, torch.ones_like(r_i)),)
    return (Path("s", 1, torch.ones_like(r_i)), Path("d", 1, r_i), Path("d", -1, r_f), Path("s", -1, r_i * r_f))
