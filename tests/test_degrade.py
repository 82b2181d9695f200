"""Degradations against independent references: scipy.ndimage, sample statistics, exact area averages."""
import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xicam_gisaxs_cnn.degrade import area_downsample, gaussian_noise, poisson_noise, rescale, smear


@pytest.fixture
def pattern():
    rng = np.random.default_rng(1)
    return rng.gamma(0.5, 10.0, size=(125, 125))


@pytest.mark.parametrize("sigma", [0.0, 0.3, 0.5, 1.0, 2.5, 7.0])
def test_smear_equals_scipy_gaussian_filter(pattern, sigma):
    expected = scipy.ndimage.gaussian_filter(pattern, sigma, mode="reflect") if sigma > 0 else pattern
    np.testing.assert_allclose(smear(pattern, sigma), expected, rtol=1e-10, atol=1e-12)


def test_smear_preserves_total_intensity(pattern):
    assert smear(pattern, 3.0).sum() == pytest.approx(pattern.sum(), rel=1e-12)


def test_smear_spreads_a_point_to_the_requested_width():
    image = np.zeros((125, 125))
    image[62, 62] = 1.0
    blurred = smear(image, 2.0)
    rows = np.arange(125) - 62
    variance = (blurred.sum(axis=1) * rows**2).sum()
    assert variance == pytest.approx(4.0, rel=1e-3)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 1.0])
def test_gaussian_noise_has_zero_mean_and_alpha_times_mean_deviation(pattern, alpha):
    residual = gaussian_noise(pattern, alpha, rng=3) - pattern
    sigma = alpha * pattern.mean()
    assert abs(residual.mean()) < 4 * sigma / 125  # 4 standard errors
    assert residual.std() == pytest.approx(sigma, rel=0.02)


def test_gaussian_noise_is_reproducible_with_a_seed(pattern):
    np.testing.assert_array_equal(gaussian_noise(pattern, 0.2, rng=7), gaussian_noise(pattern, 0.2, rng=7))
    assert not np.array_equal(gaussian_noise(pattern, 0.2, rng=7), gaussian_noise(pattern, 0.2, rng=8))


def test_poisson_noise_mean_and_variance_follow_the_photon_count():
    image = np.full((125, 125), 2.0)
    counts = 125 * 125 * 4.0  # 4 photons per pixel
    noisy = poisson_noise(image, counts, rng=0)
    photons = noisy * counts / image.sum()
    assert np.allclose(photons, np.round(photons))  # whole photons
    assert photons.mean() == pytest.approx(4.0, rel=0.01)
    assert photons.var() == pytest.approx(4.0, rel=0.03)


def test_poisson_noise_of_a_denormal_image_stays_finite():
    noisy = poisson_noise(np.full((2, 2), 5e-324), 1.0, rng=0)  # found by hypothesis: counts / total overflowed
    assert np.all(np.isfinite(noisy)) and noisy.min() >= 0


def test_poisson_noise_of_an_empty_image_is_empty():
    assert not poisson_noise(np.zeros((8, 8)), 100.0, rng=0).any()


def test_rescale_keeps_constant_images(pattern):
    for size in (100, 75, 50, 25, 2):
        np.testing.assert_allclose(rescale(np.full((125, 125), 3.5), size), 3.5, rtol=1e-12)


def test_area_downsample_averages_blocks_exactly():
    blocks = np.kron(np.indices((25, 25)).sum(axis=0) % 2, np.ones((5, 5)))  # 5x5-pixel checkerboard
    np.testing.assert_allclose(area_downsample(blocks, 25), np.indices((25, 25)).sum(axis=0) % 2, atol=1e-12)
    pixels = np.indices((125, 125)).sum(axis=0) % 2  # 1-pixel checkerboard: 13 or 12 of 25 pixels set
    np.testing.assert_allclose(np.unique(np.round(area_downsample(pixels, 25), 12)), [12 / 25, 13 / 25])


def test_area_downsample_keeps_the_mean_for_fractional_bins(pattern):
    assert area_downsample(pattern, 75).mean() == pytest.approx(pattern.mean(), rel=1e-12)


def test_rescale_to_full_size_is_identity(pattern):
    np.testing.assert_allclose(rescale(pattern, 125), pattern, rtol=1e-12)


def test_rescale_loses_detail(pattern):
    assert np.abs(rescale(pattern, 25) - pattern).mean() > 0.3 * np.abs(pattern - pattern.mean()).mean()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda img: smear(img, -1.0), "sigma_px must be >= 0"),
        (lambda img: gaussian_noise(img, -0.1), "alpha must be >= 0"),
        (lambda img: poisson_noise(img, 0), "counts must be > 0"),
        (lambda img: rescale(img, 1), "size must be between 2 and 125"),
        (lambda img: rescale(img, 126), "size must be between 2 and 125"),
        (lambda img: rescale(img, 2.5), "size must be an integer"),
        (lambda img: smear(img[0], 1.0), "must be a 2-D array"),
        (lambda img: smear(np.where(img > 5, np.nan, img), 1.0), "NaN or Inf"),
        (lambda img: smear(img - 100.0, 1.0), "negative intensities"),
        (lambda img: smear(img, float("nan")), "sigma_px must be finite"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(pattern, call, message):
    with pytest.raises(ValueError, match=message):
        call(pattern)


images = arrays(np.float64, st.tuples(st.integers(2, 40), st.integers(2, 40)), elements=st.floats(0, 1e6))


@settings(max_examples=60, deadline=None)
@given(images, st.floats(0, 10))
def test_smear_keeps_shape_sign_and_total(image, sigma):
    blurred = smear(image, sigma)
    assert blurred.shape == image.shape and blurred.min() >= -1e-9 * max(1.0, image.max())
    assert blurred.sum() == pytest.approx(image.sum(), rel=1e-9, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(images, st.data())
def test_rescale_keeps_shape_and_range(image, data):
    size = data.draw(st.integers(2, min(image.shape)))
    result = rescale(image, size)
    assert result.shape == image.shape
    assert image.min() - 1e-6 <= result.min() and result.max() <= image.max() + 1e-6 * max(1.0, image.max())


@settings(max_examples=40, deadline=None)
@given(images, st.floats(0.01, 1e8), st.integers(0, 2**32 - 1))
def test_poisson_noise_is_non_negative_and_finite(image, counts, seed):
    noisy = poisson_noise(image, counts, rng=seed)
    assert noisy.shape == image.shape and np.all(np.isfinite(noisy)) and noisy.min() >= 0
