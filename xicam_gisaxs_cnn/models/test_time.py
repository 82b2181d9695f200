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

from typing import Any, Sequence

import numpy as np
import torch

from ..degrade_torch import smear

NO_SMEAR_PX: tuple[float, ...] = (0.0,)
"""The views of a bundle whose manifest names none: the image alone."""

MAX_SMEAR_PX: float = 10.0
"""Widest smear a bundle may ask for, px: wider views keep little of a 125 x 125 pattern."""


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
    valid = torch.isfinite(images)
    if masks is not None:
        valid &= masks
    weight = valid.to(images.dtype)
    intensity = torch.where(valid, images.clamp_min(0.0), 0.0)
    smeared = smear(intensity, sigma_px) / smear(weight, sigma_px).clamp_min(torch.finfo(images.dtype).tiny)
    return torch.where(valid, smeared, images)


def views(images: torch.Tensor, masks: torch.Tensor | None, widths: Sequence[float]) -> list[torch.Tensor]:
    """One batch per width of ``widths``: ``images`` smeared by it (0 = ``images`` themselves)."""
    return [masked_smear(images, masks, width) for width in widths]
