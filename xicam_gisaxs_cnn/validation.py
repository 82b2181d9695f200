"""Input checks shared by the pure functions: each raises a ValueError naming the problem."""
from __future__ import annotations

import numpy as np

from .canonical import IMAGE_SIZE


def check_image(image: np.ndarray, name: str = "image", *, allow_negative: bool = False) -> np.ndarray:
    """Return ``image`` as a float64 2-D array after checking rank, finiteness and sign."""
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} holds {bad} NaN or Inf values")
    if not allow_negative and array.min() < 0:
        raise ValueError(f"{name} holds negative intensities (min {array.min():.4g}); mask them first")
    return array


def check_canonical(image: np.ndarray, name: str = "image", **kwargs) -> np.ndarray:
    """As :func:`check_image`, and require the canonical 125 x 125 shape."""
    array = check_image(image, name, **kwargs)
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{name} must be {IMAGE_SIZE}x{IMAGE_SIZE} (the canonical grid), got {array.shape}")
    return array


def check_scalar(value: float, name: str, *, minimum: float, inclusive: bool = True) -> float:
    """Return ``value`` as a float after checking it is finite and above ``minimum``."""
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value}")
    if number < minimum or (not inclusive and number == minimum):
        relation = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be {relation} {minimum}, got {value}")
    return number


def check_size(size: int, *, maximum: int = IMAGE_SIZE) -> int:
    """Return ``size`` as an int after checking 2 <= size <= maximum."""
    if isinstance(size, bool) or int(size) != size:
        raise ValueError(f"size must be an integer, got {size!r}")
    size = int(size)
    if not 2 <= size <= maximum:
        raise ValueError(f"size must be between 2 and {maximum}, got {size}")
    return size
