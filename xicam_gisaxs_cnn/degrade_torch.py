"""Batched torch versions of :mod:`xicam_gisaxs_cnn.degrade`, on CPU or GPU.

Every function takes a batch of shape (N, 1, H, W) and per-sample parameters
(a number for all samples, or a sequence/tensor of N values), and returns a new
tensor on the batch's device. Deterministic results equal the numpy versions to
float tolerance; random ones draw from an explicit ``torch.Generator``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .degrade import SMEAR_TRUNCATE, area_matrix, interpolation_matrix, reflect_indices

Parameter = float | Sequence[float] | np.ndarray | torch.Tensor


def check_batch(images: torch.Tensor, *, allow_negative: bool = False) -> torch.Tensor:
    """Check a (N, 1, H, W) real, finite batch; raise ValueError naming the problem."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (N, 1, H, W), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError("images holds no samples (N = 0)")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point, got {images.dtype}")
    if not torch.isfinite(images).all():
        raise ValueError(f"images hold {int((~torch.isfinite(images)).sum())} NaN or Inf values")
    if not allow_negative and bool((images < 0).any()):
        raise ValueError(f"images hold negative intensities (min {float(images.min()):.4g}); mask them first")
    return images


def per_sample(value: Parameter, images: torch.Tensor, name: str, *, minimum: float, inclusive: bool = True) -> torch.Tensor:
    """Broadcast a parameter to shape (N,) in the batch's dtype and device, checking its range."""
    tensor = torch.as_tensor(value, dtype=images.dtype, device=images.device).flatten()
    count = images.shape[0]
    if tensor.numel() == 1:
        tensor = tensor.expand(count)
    if tensor.numel() != count:
        raise ValueError(f"{name} must be one value or {count} values (one per sample), got {tensor.numel()}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, got {tensor.tolist()}")
    too_small = tensor < minimum if inclusive else tensor <= minimum
    if bool(too_small.any()):
        relation = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be {relation} {minimum}, got {float(tensor[too_small][0])}")
    return tensor


def _gaussian_kernels(sigma_px: torch.Tensor, truncate: float = SMEAR_TRUNCATE) -> torch.Tensor:
    """Per-sample normalised kernels (N, 2R+1), each cut at its own radius int(truncate*sigma+0.5)."""
    radii = (truncate * sigma_px + 0.5).floor()
    radius = int(radii.max().item())
    x = torch.arange(-radius, radius + 1, dtype=sigma_px.dtype, device=sigma_px.device)
    safe_sigma = sigma_px.clamp_min(1e-12)[:, None]
    kernels = torch.exp(-0.5 * (x[None, :] / safe_sigma) ** 2)
    kernels = torch.where(x.abs()[None, :] <= radii[:, None], kernels, torch.zeros_like(kernels))
    identity = (x == 0).to(sigma_px.dtype).expand_as(kernels)
    kernels = torch.where(((sigma_px == 0) | (radii == 0))[:, None], identity, kernels)
    return kernels / kernels.sum(dim=1, keepdim=True)


def smear(images: torch.Tensor, sigma_px: Parameter) -> torch.Tensor:
    """Gaussian blur of each sample with its own ``sigma_px`` (px, >= 0); see :func:`degrade.smear`."""
    images = check_batch(images)
    sigma = per_sample(sigma_px, images, "sigma_px", minimum=0.0)
    kernels = _gaussian_kernels(sigma)
    radius = kernels.shape[1] // 2
    if radius == 0:
        return images.clone()
    count, _, height, width = images.shape
    rows = torch.as_tensor(reflect_indices(height, radius), device=images.device)
    columns = torch.as_tensor(reflect_indices(width, radius), device=images.device)
    padded = images[:, :, rows][:, :, :, columns].reshape(1, count, height + 2 * radius, width + 2 * radius)
    # conv2d is a correlation; the kernels are symmetric, so it equals the convolution.
    blurred = torch.nn.functional.conv2d(padded, kernels[:, None, :, None], groups=count)
    blurred = torch.nn.functional.conv2d(blurred, kernels[:, None, None, :], groups=count)
    return blurred.reshape(count, 1, height, width)


def generator_on(device: torch.device, generator: torch.Generator | None) -> torch.Generator | None:
    """``generator`` if it lives on ``device``, else a ``device`` generator seeded from one draw of it.

    Training draws from one CPU generator; noise for a batch on the GPU is drawn
    there, reproducibly, without moving the batch to the CPU.
    """
    if generator is None or generator.device.type == torch.device(device).type:
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def gaussian_noise(images: torch.Tensor, alpha: Parameter, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add noise of standard deviation ``alpha`` x each sample's mean intensity; see :func:`degrade.gaussian_noise`."""
    images = check_batch(images)
    alpha = per_sample(alpha, images, "alpha", minimum=0.0)
    noise = torch.randn(images.shape, generator=generator_on(images.device, generator), dtype=images.dtype,
                        device=images.device)
    scale = alpha * images.mean(dim=(1, 2, 3))
    return images + scale[:, None, None, None] * noise


def poisson_noise(images: torch.Tensor, counts: Parameter, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shot noise, ``counts`` expected photons in each sample's total; see :func:`degrade.poisson_noise`."""
    images = check_batch(images)
    counts = per_sample(counts, images, "counts", minimum=0.0, inclusive=False)
    total = images.sum(dim=(1, 2, 3))
    safe_total = torch.where(total > 0, total, torch.ones_like(total))[:, None, None, None]
    expected_photons = images / safe_total * counts[:, None, None, None]  # divide first: finite for tiny totals
    drawn = torch.poisson(expected_photons, generator=generator_on(images.device, generator))
    return drawn * (safe_total / counts[:, None, None, None])


def rescale(images: torch.Tensor, size: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Area-average each sample down to its ``size`` and interpolate back; see :func:`degrade.rescale`."""
    images = check_batch(images)
    count, _, height, width = images.shape
    sizes = torch.as_tensor(size).flatten()
    if sizes.numel() == 1:
        sizes = sizes.expand(count)
    if sizes.numel() != count:
        raise ValueError(f"size must be one value or {count} values (one per sample), got {sizes.numel()}")
    if sizes.is_floating_point() and not bool((sizes == sizes.round()).all()):
        raise ValueError(f"size must be integers, got {sizes.tolist()}")
    sizes = sizes.long()
    limit = min(height, width)
    if bool(((sizes < 2) | (sizes > limit)).any()):
        raise ValueError(f"size must be between 2 and {limit}, got {sizes.tolist()}")
    result = torch.empty_like(images)
    for value in sizes.unique().tolist():
        chosen = (sizes == value).nonzero().flatten().to(images.device)
        down_rows = torch.as_tensor(area_matrix(height, value), dtype=images.dtype, device=images.device)
        down_columns = torch.as_tensor(area_matrix(width, value), dtype=images.dtype, device=images.device)
        up_rows = torch.as_tensor(interpolation_matrix(value, height), dtype=images.dtype, device=images.device)
        up_columns = torch.as_tensor(interpolation_matrix(value, width), dtype=images.dtype, device=images.device)
        rows_operator = up_rows @ down_rows
        columns_operator = up_columns @ down_columns
        result[chosen] = rows_operator @ images[chosen] @ columns_operator.T
    return result
