"""The CPU preprocessing compiled into one pass per image (numba).

:func:`xicam_gisaxs_cnn.preprocess.model_input_torch` runs this for CPU tensors. Torch's eager
operations make about twenty passes over a whole batch, which leave the cache once the batch
holds more than a few images; this kernel reads an image once to find its mean, then writes
its three channels while it is in the cache: the log channel and the window's row sums in
one pass, the high-pass channel from running column sums in a second. The same values as
torch's operations to float32 rounding (about 1e-6, 1e-5 in the high-pass channel).
The constants are compiled in (the window's sums unroll), and numba's on-disk cache is keyed
by them as well as by the code.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np

_FAST = {"reassoc", "contract", "nsz", "arcp"}
"""Reordered sums and fused multiply-adds, so that loops vectorise; no assumption that values are finite."""

_LN2 = math.log(2.0)
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
"""The bits of sqrt(1/2) in float64: a mantissa is brought into [sqrt(1/2), sqrt(2)) against it."""


@numba.njit(inline="always", fastmath=_FAST, error_model="numpy")
def _log1p(x: float) -> float:
    """log(1 + x) for finite x >= 0, in float64 to 1e-12 or better (float32 keeps 6e-8); a form that vectorises.

    1 + x = 2^e m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1),
    |s| < 0.172, by its odd series to s^13 (next term < 1e-12 relative).
    """
    u = 1.0 + x
    bits = np.float64(u).view(np.int64)
    shifted = bits - np.int64(_SQRT_HALF_BITS)
    e = shifted >> 52
    m = np.int64(bits - (e << 52)).view(np.float64)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    series = 1.0 + z * (1.0 / 3 + z * (1.0 / 5 + z * (1.0 / 7 + z * (1.0 / 9 + z * (1.0 / 11 + z / 13)))))
    return e * _LN2 + 2.0 * s * series


def _compiled(function):
    """``function`` compiled by numba, cached on disk where numba finds a writable place, else in memory only."""
    options = dict(nogil=True, fastmath=_FAST, error_model="numpy")
    try:
        return numba.njit(cache=True, **options)(function)
    except RuntimeError:  # numba's "no locator available": nowhere to write its cache
        return numba.njit(**options)(function)


@functools.lru_cache(maxsize=None)
def _compiled_fill(log_floor: float, log_scale: float, gain: float, window: int):
    """The kernel with these constants compiled in: ``fill(images, valid, weight, out)``, see :func:`fill_inputs`."""
    half = window // 2

    def fill(images, valid, weight, out):
        n, height, width = images.shape
        row = np.zeros(width + window - 1, np.float32)  # one log row, zero padded
        row_sums = np.zeros((height + window - 1, width), np.float32)  # each row's window sums, zero padded
        for k in range(n):
            image = images[k]
            valid_k = valid[k if valid.shape[0] > 1 else 0]
            weight_k = weight[k if weight.shape[0] > 1 else 0]
            total = 0.0
            count = 0
            for i in range(height):
                for j in range(width):
                    value = image[i, j]
                    total += value if (valid_k[i, j] != 0 and value > 0) else np.float32(0.0)
                    count += valid_k[i, j]
            mean = total / max(count, 1)
            to_ratio = np.float32(1.0 / (log_floor * mean)) if mean > 0 else np.float32(0.0)
            logged, high_pass, mask = out[k, 0], out[k, 1], out[k, 2]
            for i in range(height):
                logged_i, image_i, valid_i, mask_i = logged[i], image[i], valid_k[i], mask[i]
                for j in range(width):
                    value = image_i[j]
                    ratio = value * to_ratio if (valid_i[j] != 0 and value > 0) else np.float32(0.0)
                    level = np.float32(_log1p(ratio) * log_scale)
                    logged_i[j] = level
                    row[j + half] = level
                for j in range(width):
                    mask_i[j] = valid_i[j]
                sums = row_sums[i + half]
                for j in range(width):
                    total_j = np.float32(0.0)
                    for d in range(window):  # a compile-time constant: unrolled, and the j loop vectorised
                        total_j += row[j + d]
                    sums[j] = total_j
            column_sum = row_sums[0].copy()  # the window's sum for row 0, then moved down a row at a time
            for d in range(1, window):
                column_sum += row_sums[d]
            for i in range(height):
                logged_i, high_pass_i, weight_i = logged[i], high_pass[i], weight_k[i]
                for j in range(width):
                    high_pass_i[j] = gain * logged_i[j] + column_sum[j] * weight_i[j]
                if i + window < height + window - 1:
                    leaving, entering = row_sums[i], row_sums[i + window]
                    for j in range(width):
                        column_sum[j] += entering[j] - leaving[j]

    return _compiled(fill)


def fill_inputs(images: np.ndarray, valid: np.ndarray, weight: np.ndarray, out: np.ndarray, *,
                log_floor: float, log_scale: float, gain: float, window_px: int) -> None:
    """Write the model input channels of ``images`` into ``out``, on the calling thread (the GIL released).

    Parameters
    ----------
    images : (N, H, W) float32, C-contiguous
        Intensities; pixels where ``valid`` is 0 are never read as data (they may be NaN).
    valid : (M, H, W) uint8, C-contiguous
        1 where a pixel holds data; M = 1 for one mask shared by the batch, else M = N.
    weight : (M, H, W) float32, C-contiguous
        The high-pass weight of each mask, -gain x mask / valid pixels in the window.
    out : (N, 3, H, W) float32, C-contiguous
        Receives the log channel, the high-pass channel and the mask.
    log_floor, log_scale, gain : float
        log channel = log(1 + I / (mean log_floor)) x log_scale; high pass = gain x log channel +
        window sum of the log channel x weight.
    window_px : int
        Side of the (odd) high-pass window, px.

    Notes
    -----
    One thread, not several: for milliseconds after each of its operations torch's OpenMP
    workers spin on the other cores, and a second thread of this kernel competes with them
    (docs/benchmarks.md, session 31).
    """
    _compiled_fill(float(log_floor), float(log_scale), float(gain), int(window_px))(images, valid, weight, out)
