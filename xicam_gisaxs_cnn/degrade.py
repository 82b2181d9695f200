"""The paper's degradations of a GISAXS image, in numpy, one image at a time.

All take a non-negative 2-D intensity image (any size for ``smear`` and the
noises; 125 x 125 for ``rescale`` by default) and return a new float64 array.
The batched torch versions in :mod:`xicam_gisaxs_cnn.degrade_torch` use the same
kernels and matrices and agree to float tolerance.
"""
from __future__ import annotations

import numpy as np

from .validation import check_image, check_scalar, check_size

SMEAR_TRUNCATE: float = 4.0
"""Gaussian kernels are cut at this many standard deviations (as scipy.ndimage)."""


def gaussian_kernel(sigma_px: float, truncate: float = SMEAR_TRUNCATE) -> np.ndarray:
    """Normalised 1-D Gaussian of standard deviation ``sigma_px`` (px), radius ``int(truncate*sigma+0.5)``.

    ``sigma_px = 0`` gives the identity kernel ``[1.0]``.
    """
    sigma_px = check_scalar(sigma_px, "sigma_px", minimum=0.0)
    radius = int(truncate * sigma_px + 0.5)
    if radius == 0 or sigma_px == 0:
        return np.ones(1)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma_px) ** 2)
    return kernel / kernel.sum()


def reflect_indices(length: int, radius: int) -> np.ndarray:
    """Indices of a line of ``length`` padded by ``radius`` with half-sample symmetry.

    The padding is scipy.ndimage's ``mode="reflect"`` (``d c b a | a b c d | d c b a``),
    which keeps the total intensity of a blurred image unchanged.
    """
    index = np.arange(-radius, length + radius)
    period = 2 * length
    index = np.mod(index, period)
    return np.where(index < length, index, period - 1 - index)


def gaussian_matrix(length: int, sigma_px: float) -> np.ndarray:
    """Matrix ``(length, length)`` of :func:`smear` along one axis: ``smear(image, s) == G_rows @ image @ G_columns.T``.

    Row i holds the kernel's weights of the pixels it reads, the half-sample reflection
    folded in, so every row sums to 1.
    """
    kernel = gaussian_kernel(sigma_px)
    radius = kernel.size // 2
    sources = reflect_indices(length, radius)
    matrix = np.zeros((length, length))
    for offset, weight in enumerate(kernel):
        np.add.at(matrix, (np.arange(length), sources[offset:offset + length]), weight)
    return matrix


def smear(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Blur with an isotropic Gaussian of standard deviation ``sigma_px`` pixels.

    Parameters
    ----------
    image : (H, W) array
        Non-negative intensities.
    sigma_px : float
        Standard deviation in pixels along both axes (paper: 0.5 and 1.0), >= 0.

    Returns
    -------
    (H, W) float64 array
        The smeared image; its total intensity equals the input's.

    Notes
    -----
    Separable convolution with a kernel cut at 4 sigma and half-sample reflecting
    edges, identical to ``scipy.ndimage.gaussian_filter(image, sigma_px, mode="reflect")``.

    Examples
    --------
    >>> smear(np.ones((5, 5)), 1.0).sum()
    25.0
    """
    image = check_image(image)
    kernel = gaussian_kernel(sigma_px)
    radius = kernel.size // 2
    if radius == 0:
        return image.copy()
    rows = reflect_indices(image.shape[0], radius)
    columns = reflect_indices(image.shape[1], radius)
    padded = image[np.ix_(rows, columns)]
    blurred_rows = np.apply_along_axis(np.convolve, 0, padded, kernel, mode="valid")
    return np.apply_along_axis(np.convolve, 1, blurred_rows, kernel, mode="valid")


def gaussian_noise(image: np.ndarray, alpha: float, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Add zero-mean Gaussian noise of standard deviation ``alpha`` x mean intensity.

    Parameters
    ----------
    image : (H, W) array
        Non-negative intensities.
    alpha : float
        Noise level (paper: 0.1, 0.2, 0.5, 1.0), >= 0.
    rng : numpy Generator or seed, optional

    Returns
    -------
    (H, W) float64 array
        May hold negative values, as the paper's noise model does; the model's
        input normalisation (:mod:`xicam_gisaxs_cnn.preprocess`) accepts them.
    """
    image = check_image(image)
    alpha = check_scalar(alpha, "alpha", minimum=0.0)
    rng = np.random.default_rng(rng)
    return image + alpha * image.mean() * rng.standard_normal(image.shape)


def poisson_noise(image: np.ndarray, counts: float, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Shot noise for an image holding ``counts`` expected photons in total.

    The image is scaled so that its *total* intensity is ``counts`` photons, each
    pixel drawn from a Poisson law of that mean, and scaled back, so the result
    keeps the input's units and, on average, its values.

    Parameters
    ----------
    image : (H, W) array
        Non-negative intensities.
    counts : float
        Expected photons in the whole image, > 0.
    rng : numpy Generator or seed, optional

    Returns
    -------
    (H, W) float64 array
        All zeros if the image is all zeros.
    """
    image = check_image(image)
    counts = check_scalar(counts, "counts", minimum=0.0, inclusive=False)
    rng = np.random.default_rng(rng)
    total = image.sum()
    if total == 0:
        return np.zeros_like(image)
    expected_photons = image / total * counts  # divide first: stays finite for denormal totals
    return rng.poisson(expected_photons) * (total / counts)


def area_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Matrix ``(size_out, size_in)`` averaging pixels over equal bins with fractional overlap.

    Row i holds the fraction of output bin i covered by each input pixel; every
    row sums to 1, so constant images stay constant (area averaging, as
    ``cv2.INTER_AREA``).
    """
    edges_out = np.linspace(0.0, size_in, size_out + 1)
    lower = np.maximum(edges_out[:-1, None], np.arange(size_in)[None, :])
    upper = np.minimum(edges_out[1:, None], np.arange(1, size_in + 1)[None, :])
    overlap = np.clip(upper - lower, 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def interpolation_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Matrix ``(size_out, size_in)`` of linear interpolation between pixel centres.

    Pixel centres are aligned as in ``torch.nn.functional.interpolate(...,
    mode="bilinear", align_corners=False)``; beyond the outer centres the edge
    value is held.
    """
    position = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    position = np.clip(position, 0.0, size_in - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, size_in - 1)
    weight = position - lower
    matrix = np.zeros((size_out, size_in))
    np.add.at(matrix, (np.arange(size_out), lower), 1.0 - weight)
    np.add.at(matrix, (np.arange(size_out), upper), weight)
    return matrix


def area_downsample(image: np.ndarray, size: int) -> np.ndarray:
    """Area-average a 2-D image down to ``size`` x ``size`` pixels."""
    image = check_image(image)
    size = check_size(size, maximum=min(image.shape))
    return area_matrix(image.shape[0], size) @ image @ area_matrix(image.shape[1], size).T


def rescale(image: np.ndarray, size: int) -> np.ndarray:
    """Lose resolution: area-average down to ``size`` x ``size``, then interpolate back.

    Parameters
    ----------
    image : (H, W) array
        Non-negative intensities (125 x 125 on the canonical grid).
    size : int
        Intermediate resolution, 2 <= size <= min(H, W) (paper: 100, 75, 50, 25).

    Returns
    -------
    (H, W) float64 array
        Same shape as the input; constant images are returned unchanged.
    """
    image = check_image(image)
    size = check_size(size, maximum=min(image.shape))
    small = area_downsample(image, size)
    rows = interpolation_matrix(size, image.shape[0])
    columns = interpolation_matrix(size, image.shape[1])
    return rows @ small @ columns.T
