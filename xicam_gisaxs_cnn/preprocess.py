"""Turn canonical intensity images into model input: log scaling, normalisation, mask channel.

The model sees three channels: the normalised log-intensity (0 where masked), its
high-pass part (log-intensity minus its local mean over valid pixels in a
9 x 9 px window, which brings out Bragg peaks and rods over the smooth form
factor), and the validity mask (1 = data). Recorded in every weight bundle's manifest as
``PREPROCESSING``; a bundle whose manifest differs is refused at load time.
"""
from __future__ import annotations

import numpy as np
import torch

from .canonical import IMAGE_SIZE

LOG_FLOOR: float = 1e-4
"""Intensities are divided by the mean over valid pixels and floored here before log10."""

HIGH_PASS_WINDOW_PX: int = 9
"""Side of the local-mean window subtracted for the high-pass channel, px."""

HIGH_PASS_GAIN: float = 4.0
"""The high-pass channel is multiplied by this to give it a spread like the others'."""

INPUT_CHANNELS: int = 3
MASK_CHANNEL: int = 2

PREPROCESSING: dict = {
    "name": "log10-mean-normalised+highpass+mask",
    "log_floor": LOG_FLOOR,
    "high_pass_window_px": HIGH_PASS_WINDOW_PX,
    "high_pass_gain": HIGH_PASS_GAIN,
    "channels": [
        "log10(max(I, 0) / mean(I_valid) + floor), rescaled to about [0, 1]",
        "gain x (log channel - its local mean over valid pixels)",
        "valid mask",
    ],
    "input_shape": [INPUT_CHANNELS, IMAGE_SIZE, IMAGE_SIZE],
}

_LOG_OFFSET = -np.log10(LOG_FLOOR)  # maps the floor to 0
_LOG_SPAN = _LOG_OFFSET + 2.0  # maps 100x the mean to 1


def _high_pass(logged: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``logged`` minus its mean over valid pixels in a HIGH_PASS_WINDOW_PX square, 0 where masked."""
    weight = valid.to(logged.dtype)
    size, half = HIGH_PASS_WINDOW_PX, HIGH_PASS_WINDOW_PX // 2

    def running_sum(x: torch.Tensor, dim: int) -> torch.Tensor:  # sum over a window of `size`, zero outside
        padding = [0, 0, 0, 0]
        padding[2 * (3 - dim)] = half + 1
        padding[2 * (3 - dim) + 1] = half
        total = torch.nn.functional.pad(x, padding).cumsum(dim)
        length = x.shape[dim]
        return total.narrow(dim, size, length) - total.narrow(dim, 0, length)

    def box_sum(x: torch.Tensor) -> torch.Tensor:  # separable: along columns, then rows
        return running_sum(running_sum(x, 2), 3)

    local_mean = box_sum(logged * weight) / box_sum(weight).clamp_min(1e-6)
    return HIGH_PASS_GAIN * (logged - local_mean) * weight


def model_input_torch(images: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Batch (N, 1, H, W) of intensities (+ boolean masks, same shape) -> (N, 3, H, W) float32.

    Negative values (Gaussian noise, detector gaps) count as zero intensity;
    non-finite pixels are treated as masked. A frame with no positive valid
    pixel becomes all zeros in the intensity channel.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (N, 1, H, W), got {tuple(images.shape)}")
    images = images.to(torch.float32)
    valid = torch.isfinite(images)
    if masks is not None:
        if masks.shape != images.shape:
            raise ValueError(f"masks must have the images' shape {tuple(images.shape)}, got {tuple(masks.shape)}")
        valid = valid & masks.to(torch.bool)
    intensity = torch.where(valid, images, torch.zeros_like(images)).clamp_min(0.0)
    count = valid.sum(dim=(1, 2, 3)).clamp_min(1)
    mean = intensity.sum(dim=(1, 2, 3)) / count
    safe_mean = torch.where(mean > 0, mean, torch.ones_like(mean))[:, None, None, None]
    logged = (torch.log10(intensity / safe_mean + LOG_FLOOR) + _LOG_OFFSET) / _LOG_SPAN
    logged = torch.where(valid & (mean > 0)[:, None, None, None], logged, torch.zeros_like(logged))
    return torch.cat([logged, _high_pass(logged, valid), valid.to(torch.float32)], dim=1)


def model_input(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """One canonical image (H, W) (+ boolean mask) -> model input (3, H, W) float32."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D array, got shape {image.shape}")
    images = torch.from_numpy(image)[None, None]
    masks = None if mask is None else torch.from_numpy(np.asarray(mask, dtype=bool))[None, None]
    return model_input_torch(images, masks)[0].numpy()
