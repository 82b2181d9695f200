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

_LOG_SCALE = 1.0 / (np.log(10.0) * (2.0 - np.log10(LOG_FLOOR)))
"""log1p(I / (mean floor)) x this is the log channel: log10(I / mean + floor) - log10(floor) over a span that puts 100x the mean at about 1."""


def _window_sum(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """Sum of ``x`` over a centred window of ``size`` (odd) along ``dim``, zero outside.

    Built from running sums of 1, 2, 4, ... elements (each one add of two shifted
    views), combined by the binary digits of ``size``: about 2 log2(size) adds
    instead of ``size``, and exact sums rather than differences of a cumulative sum.
    """
    padding = [0] * (2 * x.ndim)
    padding[2 * (x.ndim - 1 - dim)] = padding[2 * (x.ndim - 1 - dim) + 1] = size // 2
    block, block_length = torch.nn.functional.pad(x, padding), 1  # block[i] = sum of padded[i : i + block_length]
    length, total, offset = x.shape[dim], None, 0
    while True:
        if size & block_length:
            part = block.narrow(dim, offset, length)
            total = part.clone() if total is None else total.add_(part)
            offset += block_length
        if 2 * block_length > size:
            return total
        shorter = block.shape[dim] - block_length
        block = block.narrow(dim, 0, shorter) + block.narrow(dim, block_length, shorter)
        block_length *= 2


def _box_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of (N, 1, H, W) ``x`` over a HIGH_PASS_WINDOW_PX square around each pixel, zero outside."""
    return _window_sum(_window_sum(x, 2, HIGH_PASS_WINDOW_PX), 3, HIGH_PASS_WINDOW_PX)


def _shared_mask(valid: torch.Tensor | None, images: torch.Tensor) -> torch.Tensor:
    """The validity (M, 1, H, W) of a batch: M = 1 when every image has the same (all ones when ``valid`` is None).

    A batch expanded from one mask (zero stride) is recognised without comparing pixels.
    """
    if valid is None:
        return torch.ones((1, 1, *images.shape[2:]), dtype=torch.bool, device=images.device)
    if valid.shape[0] == 1 or valid.stride(0) == 0 or bool((valid == valid[:1]).all()):
        return valid[:1]
    return valid


class _LastMaskWeight:
    """The high-pass weight of a shared mask, -gain x mask / valid pixels in the window, kept for the last mask seen.

    Consecutive frames of one detector share their mask, so the weight's two box sums
    (a third of a single image's preprocessing) are done once per mask, not per call.
    Comparing a new mask with the kept one costs one pass over its pixels.
    """

    def __init__(self) -> None:
        self._entry: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, mask: torch.Tensor) -> torch.Tensor:
        """The float32 weight of a boolean ``mask`` (M, 1, H, W)."""
        entry = self._entry  # one read: another thread may replace it meanwhile
        if (entry is not None and entry[0].shape == mask.shape and entry[0].device == mask.device
                and torch.equal(entry[0], mask)):
            return entry[1]
        weight = _box_sum(mask.to(torch.float32)).clamp_min_(1e-6).reciprocal_().mul_(mask).mul_(-HIGH_PASS_GAIN)
        if mask.shape[0] == 1:
            self._entry = (mask.clone(), weight)
        return weight


_mask_weight = _LastMaskWeight()


def _validity(images: torch.Tensor, masks: torch.Tensor | None, all_finite: bool) -> torch.Tensor | None:
    """Valid pixels (finite and unmasked), or None when every pixel is valid."""
    valid = None if all_finite else torch.isfinite(images)
    if masks is None:
        return valid
    if masks.shape != images.shape:
        raise ValueError(f"masks must have the images' shape {tuple(images.shape)}, got {tuple(masks.shape)}")
    masks = masks.to(device=images.device, dtype=torch.bool)
    return masks if valid is None else valid & masks


def model_input_torch(images: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Batch (N, 1, H, W) of intensities (+ boolean masks, same shape) -> (N, 3, H, W) float32.

    Negative values (Gaussian noise, detector gaps) count as zero intensity;
    non-finite pixels are treated as masked. A frame with no positive valid
    pixel becomes all zeros in the intensity channel. On the CPU one compiled pass
    per image (:mod:`~xicam_gisaxs_cnn.preprocess_kernel`) writes the channels; on
    other devices torch's operations do, in place, one pass over the batch per step.
    The result carries no gradient.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (N, 1, H, W), got {tuple(images.shape)}")
    images = images.detach().to(torch.float32)
    # one sum tells whether a pixel is not finite (it makes the sum NaN or infinite; so can an
    # overflow, which only costs the per-pixel path)
    all_finite = bool(torch.isfinite(images.sum()))
    valid = _validity(images, masks, all_finite)
    inputs = torch.empty((images.shape[0], INPUT_CHANNELS, *images.shape[2:]), dtype=torch.float32, device=images.device)
    shared_valid = _shared_mask(valid, images)
    box_weight = _mask_weight(shared_valid)
    if images.device.type == "cpu":
        from .preprocess_kernel import fill_inputs  # here, not at import: numba takes 0.3-0.5 s to import

        fill_inputs(images[:, 0].contiguous().numpy(), shared_valid[:, 0].to(torch.uint8).contiguous().numpy(),
                    box_weight[:, 0].contiguous().numpy(), inputs.numpy(), log_floor=LOG_FLOOR, log_scale=_LOG_SCALE,
                    gain=HIGH_PASS_GAIN, window_px=HIGH_PASS_WINDOW_PX)
    else:
        _fill_inputs_eager(images, valid, all_finite, box_weight, inputs)
    return inputs


def _fill_inputs_eager(images: torch.Tensor, valid: torch.Tensor | None, all_finite: bool,
                       box_weight: torch.Tensor, inputs: torch.Tensor) -> None:
    """:func:`model_input_torch`'s channels by torch operations, on any device."""
    logged, high_pass, weight = inputs[:, 0:1], inputs[:, 1:2], inputs[:, MASK_CHANNEL:MASK_CHANNEL + 1]
    if all_finite:
        intensity = images.clamp_min(0.0)
    else:
        intensity = torch.nan_to_num(images, nan=0.0, posinf=0.0, neginf=0.0).clamp_min_(0.0)
    if valid is None:
        weight.fill_(1.0)
    else:
        weight.copy_(valid)
        intensity.mul_(weight)
    mean = intensity.sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3)).clamp_min(1.0)
    has_signal = mean > 0
    # log10(I / mean + floor) - log10(floor) = log1p(I / (mean floor)) / ln 10: exactly 0 where I is 0,
    # so masked pixels (I set to 0 above) need no product with the mask
    to_ratio = torch.where(has_signal, 1.0 / (LOG_FLOOR * torch.where(has_signal, mean, 1.0)), 0.0)
    torch.mul(intensity, to_ratio[:, None, None, None], out=logged).log1p_().mul_(_LOG_SCALE)
    # high pass: gain x (log channel - its mean over the valid pixels of the window) on valid pixels,
    # = gain x logged - box sum x (gain x mask / valid pixels in the window), the bracket once per mask
    torch.mul(_box_sum(logged), box_weight, out=high_pass).add_(logged, alpha=HIGH_PASS_GAIN)


def model_input(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """One canonical image (H, W) (+ boolean mask) -> model input (3, H, W) float32."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D array, got shape {image.shape}")
    images = torch.tensor(image)[None, None]  # copies: read-only or broadcast arrays are welcome
    masks = None if mask is None else torch.tensor(np.asarray(mask, dtype=bool))[None, None]
    return model_input_torch(images, masks)[0].numpy()
