"""Degradation during training and evaluation: the paper's per-noise settings and one robust mixture.

A :class:`Degradation` is parsed from a short spec:

- ``clean`` - nothing;
- ``smear:SIGMA_PX`` - Gaussian blur (paper: 0.5, 1.0);
- ``gaussian:ALPHA`` - additive noise, std = alpha x mean intensity (paper: 0.1-1.0);
- ``poisson:COUNTS`` - shot noise for COUNTS expected photons per image (paper: level not given; we use 1e5);
- ``rescale:SIZE`` - area-average to SIZE x SIZE and back (paper: 100, 75, 50, 25);
- ``mixture`` - each of the above drawn at random per sample, so one model is robust to all.

All apply to (N, 1, 125, 125) batches with :mod:`xicam_gisaxs_cnn.degrade_torch`, the
same functions the plugin uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from xicam_gisaxs_cnn import degrade_torch
from xicam_gisaxs_cnn.canonical import IMAGE_SIZE

from .json_records import record_from_dict, record_to_dict

KINDS: tuple[str, ...] = ("clean", "smear", "gaussian", "poisson", "rescale", "mixture")


@dataclass(frozen=True)
class MixtureRanges:
    """Per-sample draws of the mixture: each degradation applied with its probability.

    Applied in the order smear -> rescale -> Poisson -> Gaussian (the Gaussian last,
    since it may leave negative values that the others refuse).
    """

    smear_probability: float = 0.5
    smear_sigma_px: tuple[float, float] = (0.0, 2.0)
    rescale_probability: float = 0.4
    rescale_size: tuple[int, int] = (20, 125)  # drawn log-uniformly: as many 20-50 px as 50-125 px
    poisson_probability: float = 0.5
    poisson_log10_counts: tuple[float, float] = (3.0, 7.0)
    gaussian_probability: float = 0.5
    gaussian_alpha: tuple[float, float] = (0.0, 1.5)

    def __post_init__(self) -> None:
        for name in ("smear_probability", "rescale_probability", "poisson_probability", "gaussian_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"mixture {name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("smear_sigma_px", "rescale_size", "poisson_log10_counts", "gaussian_alpha"):
            bounds = getattr(self, name)
            if not isinstance(bounds, tuple) or len(bounds) != 2 or bounds[0] > bounds[1] or bounds[0] < 0:
                raise ValueError(f"mixture {name} must be (low, high) with 0 <= low <= high, got {bounds}")
        if self.rescale_size[0] < 2 or self.rescale_size[1] > IMAGE_SIZE:
            raise ValueError(f"mixture rescale_size must lie within 2..{IMAGE_SIZE} px, got {self.rescale_size}")

    @classmethod
    def from_dict(cls, values: dict) -> "MixtureRanges":
        """Ranges from a JSON object; missing keys take the defaults, unknown keys raise ValueError."""
        return record_from_dict(cls, values, what="mixture")

    def to_dict(self) -> dict:
        """JSON-ready ranges, as recorded in a bundle's manifest."""
        return record_to_dict(self)


@dataclass(frozen=True)
class Degradation:
    """One degradation setting; ``level`` is sigma_px, alpha, counts or size by ``kind``."""

    kind: str = "clean"
    level: float | None = None
    mixture: MixtureRanges = MixtureRanges()

    @classmethod
    def parse(cls, spec: str) -> "Degradation":
        """``"gaussian:0.5"`` -> Degradation("gaussian", 0.5); see the module docstring."""
        kind, _, level = spec.strip().lower().partition(":")
        if kind not in KINDS:
            raise ValueError(f"unknown degradation {spec!r}; expected one of {', '.join(KINDS)} (e.g. gaussian:0.5)")
        if kind in ("clean", "mixture"):
            if level:
                raise ValueError(f"degradation {kind!r} takes no level, got {spec!r}")
            return cls(kind)
        if not level:
            raise ValueError(f"degradation {kind!r} needs a level, e.g. {kind}:1.0, got {spec!r}")
        try:
            value = float(level)
        except ValueError:
            raise ValueError(f"degradation level must be a number, got {level!r} in {spec!r}") from None
        return cls(kind, value)

    @property
    def spec(self) -> str:
        """The spec string this degradation parses from."""
        return self.kind if self.level is None else f"{self.kind}:{self.level:g}"

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Degrade a batch (N, 1, 125, 125) of non-negative intensities."""
        if self.kind == "clean":
            return images
        if self.kind == "smear":
            return degrade_torch.smear(images, self.level)
        if self.kind == "gaussian":
            return degrade_torch.gaussian_noise(images, self.level, generator)
        if self.kind == "poisson":
            return degrade_torch.poisson_noise(images, self.level, generator)
        if self.kind == "rescale":
            return degrade_torch.rescale(images, int(self.level))
        return _mixture(images, self.mixture, generator)


def _uniform(count: int, bounds: tuple[float, float], generator, like: torch.Tensor) -> torch.Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(count, generator=generator, dtype=like.dtype).to(like.device)


def _chosen(count: int, probability: float, generator) -> torch.Tensor:
    return torch.rand(count, generator=generator) < probability


def log_uniform_sizes(count: int, bounds: tuple[int, int], generator) -> torch.Tensor:
    """``count`` integer image sizes (px) drawn log-uniformly over ``bounds`` (inclusive)."""
    low, high = math.log(bounds[0] - 0.5), math.log(bounds[1] + 0.5)
    drawn = torch.exp(low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64))
    return drawn.round().long().clamp(bounds[0], bounds[1])


def _mixture(images: torch.Tensor, ranges: MixtureRanges, generator) -> torch.Tensor:
    count = images.shape[0]
    sigma = _uniform(count, ranges.smear_sigma_px, generator, images)
    sigma = torch.where(_chosen(count, ranges.smear_probability, generator).to(images.device), sigma, torch.zeros_like(sigma))
    images = degrade_torch.smear(images, sigma)
    sizes = log_uniform_sizes(count, ranges.rescale_size, generator)
    sizes = torch.where(_chosen(count, ranges.rescale_probability, generator), sizes, torch.full_like(sizes, IMAGE_SIZE))
    images = degrade_torch.rescale(images, sizes)
    shot = _chosen(count, ranges.poisson_probability, generator).to(images.device) & (images.sum(dim=(1, 2, 3)) > 0)
    if bool(shot.any()):
        counts = 10.0 ** _uniform(int(shot.sum()), ranges.poisson_log10_counts, generator, images)
        images = images.clone()
        images[shot] = degrade_torch.poisson_noise(images[shot], counts, generator)
    alpha = _uniform(count, ranges.gaussian_alpha, generator, images)
    alpha = torch.where(_chosen(count, ranges.gaussian_probability, generator).to(images.device), alpha, torch.zeros_like(alpha))
    return degrade_torch.gaussian_noise(images, alpha, generator)
