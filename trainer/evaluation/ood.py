"""Patterns of no superlattice, for out-of-distribution detection rates.

Each returns (N, 125, 125) float64 canonical intensities. Kinds: ``disordered``
(polydisperse spheres without long-range order: form factor times a
Percus-Yevick hard-sphere structure factor, with the Yoneda enhancement), ``empty``
(a flat, weak background with shot noise), ``noise`` (pure Gaussian and Poisson
noise) and ``ring`` (an isotropic powder ring).
"""
from __future__ import annotations

import numpy as np
import torch

from xicam_gisaxs_cnn.canonical import DEFAULT_ALPHA_I_DEG, DEFAULT_ENERGY_KEV, q_mesh
from xicam_gisaxs_cnn.physics import silicon_refractive_index, wavenumber_nm

from ..simulation.fresnel import reflection_coefficient

OOD_KINDS: tuple[str, ...] = ("disordered", "empty", "noise", "ring")


def _yoneda_factor() -> np.ndarray:
    """|1 + r(alpha_f)|^2 of each canonical pixel (0 below the horizon): the Yoneda band."""
    _, qz = q_mesh()
    k = wavenumber_nm(DEFAULT_ENERGY_KEV)
    alpha_f = np.arcsin(np.clip(qz / k - np.sin(np.radians(DEFAULT_ALPHA_I_DEG)), -1, 1))
    delta, beta = silicon_refractive_index(DEFAULT_ENERGY_KEV)
    r = reflection_coefficient(torch.from_numpy(np.clip(alpha_f, 0, None)), delta=torch.tensor(delta), beta=torch.tensor(beta))
    return np.where(alpha_f >= 0, np.abs(1 + r.numpy()) ** 2, 0.0)


def _percus_yevick(q: np.ndarray, radius: float, fraction: float) -> np.ndarray:
    """Hard-sphere structure factor (Percus-Yevick, Wertheim's closed form) at volume fraction ``fraction``."""
    x = np.maximum(2 * q * radius, 1e-6)
    a = (1 + 2 * fraction) ** 2 / (1 - fraction) ** 4
    b = -6 * fraction * (1 + fraction / 2) ** 2 / (1 - fraction) ** 4
    c = fraction * a / 2
    g = (a * (np.sin(x) - x * np.cos(x)) / x**2
         + b * (2 * x * np.sin(x) + (2 - x**2) * np.cos(x) - 2) / x**3
         + c * (-x**4 * np.cos(x) + 4 * ((3 * x**2 - 6) * np.cos(x) + (x**3 - 6 * x) * np.sin(x) + 6)) / x**5)
    return 1.0 / (1 + 24 * fraction * g / x)


def _sphere_form_factor(q: np.ndarray, radius: float) -> np.ndarray:
    x = np.maximum(q * radius, 1e-6)
    return (3 * (np.sin(x) - x * np.cos(x)) / x**3) ** 2


def ood_patterns(kind: str, count: int, *, seed: int) -> np.ndarray:
    """``count`` canonical patterns of one OOD ``kind`` (see the module docstring)."""
    if kind not in OOD_KINDS:
        raise ValueError(f"unknown OOD kind {kind!r}; expected one of {', '.join(OOD_KINDS)}")
    rng = np.random.default_rng(seed)
    qy, qz = q_mesh()
    q = np.hypot(qy, qz)
    yoneda = _yoneda_factor()
    patterns = []
    for _ in range(count):
        if kind == "disordered":
            radius = rng.uniform(3.0, 12.0)
            radii = radius * (1 + 0.1 * rng.standard_normal(8))
            form = np.mean([_sphere_form_factor(q, r) * r**6 for r in radii], axis=0)
            image = form * _percus_yevick(q, radius, rng.uniform(0.1, 0.45)) * yoneda
        elif kind == "empty":
            image = rng.poisson(rng.uniform(0.05, 2.0), size=q.shape).astype(float)
        elif kind == "noise":
            image = np.abs(rng.standard_normal(q.shape)) + rng.poisson(1.0, size=q.shape)
        else:
            q0, width = rng.uniform(0.2, 1.2), rng.uniform(0.01, 0.05)
            image = (np.exp(-0.5 * ((q - q0) / width) ** 2) + 1e-3) * yoneda
        patterns.append(image)
    return np.stack(patterns)
