"""Test-time smearing: a bundle can classify each image as the mean over a few Gaussian-smeared views.

A bundle's manifest may name ``test_time_smear_px``, the Gaussian widths (px, 0 = the
image as it is) of the views its :class:`~.classifier.Classifier` averages the class
probabilities over. Smearing averages neighbouring pixels, so a view is less noisy and
less sharp than the image. The shipped ``frames`` model averages over the image and a
1 px view: on 140 realistic Pilatus 1M superlattice frames and 20 films of each kind of
no class that no choice saw, it labelled 116 frames right against 113 for the image
alone and flagged every monolayer at 5% false alarms against 85%
(``bundles/frames/report/test_time_smear.json``, docs/models.md).

Smearing is normalised over the valid pixels (``smear(I x M) / smear(M)``), so masked
pixels (gaps, beam stop, below the horizon) neither darken nor brighten their
neighbours, and the mask is unchanged.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np
import torch

from ..degrade import gaussian_matrix

NO_SMEAR_PX: tuple[float, ...] = (0.0,)
"""The views of a bundle whose manifest names none: the image alone."""

MAX_SMEAR_PX: float = 10.0
"""Widest smear a bundle may ask for, px: wider views keep little of a 125 x 125 pattern."""

SMEAR_BLOCK_PX: int = 25
"""Output pixels per block of the banded smear (125 = 5 blocks; measured faster than 42 or 63)."""


def check_smear_views(values: Any) -> tuple[float, ...]:
    """``values`` as a tuple of smear widths (px); ValueError unless 1-8 finite widths in [0, MAX_SMEAR_PX]."""
    try:
        widths = tuple(float(value) for value in np.atleast_1d(np.asarray(values, dtype=float)).ravel())
    except (TypeError, ValueError):
        raise ValueError(f"test_time_smear_px must be numbers (px), got {values!r}") from None
    if not 1 <= len(widths) <= 8:
        raise ValueError(f"test_time_smear_px must name 1 to 8 views, got {len(widths)}")
    if not all(np.isfinite(width) and 0.0 <= width <= MAX_SMEAR_PX for width in widths):
        raise ValueError(f"test_time_smear_px must be widths in [0, {MAX_SMEAR_PX:g}] px, got {list(widths)}")
    return widths


def masked_smear(images: torch.Tensor, masks: torch.Tensor | None, sigma_px: float) -> torch.Tensor:
    """Gaussian smear (``sigma_px``, px) of a batch (N, 1, H, W) over its valid pixels only.

    Valid pixels are finite and True in ``masks`` (all finite pixels when None); negative
    values count as zero, as in preprocessing. Each valid pixel becomes the Gaussian-weighted
    mean of the valid pixels around it; every other pixel keeps its value.
    """
    if sigma_px == 0:
        return images
    count = images.shape[0]
    all_finite = bool(torch.isfinite(images.sum()))  # one sum tells (as in preprocessing): no per-pixel check
    if all_finite and masks is None:  # every pixel valid: the smear's weights are all 1, nothing to normalise
        return _banded_smear(images.clamp_min(0.0), float(sigma_px))
    if all_finite:
        valid = masks
        weight = masks.to(images.dtype)
        intensity = images.clamp_min(0.0).mul_(weight)
    else:
        valid = torch.isfinite(images) if masks is None else torch.isfinite(images) & masks
        weight = valid.to(images.dtype)
        intensity = torch.where(valid, images.clamp_min(0.0), 0.0)
    smeared = _banded_smear(torch.cat([intensity, weight]), float(sigma_px))
    ratio = smeared[:count].div_(smeared[count:].clamp_min_(torch.finfo(images.dtype).tiny))
    return torch.where(valid, ratio, images)


def _banded_smear(batch: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """:func:`~xicam_gisaxs_cnn.degrade.smear` of every image of a batch (N, 1, H, W), as banded matrix products.

    The smear along an axis is ``gaussian_matrix @ line``; the matrix is zero beyond the kernel's
    radius, so it is applied in blocks of :data:`SMEAR_BLOCK_PX` output pixels, each reading only
    the input pixels it needs: 2.3x faster than the full products, 4x faster than a grouped convolution.
    """
    height, width = batch.shape[-2:]
    along_rows = torch.empty_like(batch)
    for start, stop, first, last, block in _smear_blocks(height, sigma_px, batch.dtype, batch.device):
        along_rows[..., start:stop, :] = block @ batch[..., first:last, :]
    smeared = torch.empty_like(batch)
    for start, stop, first, last, block in _smear_blocks(width, sigma_px, batch.dtype, batch.device):
        smeared[..., start:stop] = along_rows[..., first:last] @ block.T
    return smeared


@functools.lru_cache(maxsize=8)
def _smear_blocks(length: int, sigma_px: float, dtype: torch.dtype, device: torch.device) -> list[tuple]:
    """(start, stop, first, last, block) of each block of rows of ``gaussian_matrix(length, sigma_px)``:
    output pixels start:stop read input pixels first:last through ``block``."""
    matrix = gaussian_matrix(length, sigma_px)
    blocks = []
    for start in range(0, length, SMEAR_BLOCK_PX):
        stop = min(start + SMEAR_BLOCK_PX, length)
        read = np.flatnonzero(matrix[start:stop].any(axis=0))
        first, last = int(read[0]), int(read[-1]) + 1
        blocks.append((start, stop, first, last,
                       torch.as_tensor(matrix[start:stop, first:last], dtype=dtype, device=device).contiguous()))
    return blocks


def views(images: torch.Tensor, masks: torch.Tensor | None, widths: Sequence[float]) -> list[torch.Tensor]:
    """One batch per width of ``widths``: ``images`` smeared by it (0 = ``images`` themselves)."""
    return [masked_smear(images, masks, width) for width in widths]
