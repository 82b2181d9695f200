"""The batched torch degradations agree with the numpy ones and honour per-sample parameters."""
import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn import degrade, degrade_torch


@pytest.fixture
def batch():
    rng = np.random.default_rng(2)
    return rng.gamma(0.5, 10.0, size=(5, 1, 125, 125))


def test_smear_agrees_with_numpy_per_sample(batch):
    sigmas = [0.0, 0.5, 1.0, 2.0, 3.3]
    result = degrade_torch.smear(torch.from_numpy(batch), sigmas).numpy()
    for index, sigma in enumerate(sigmas):
        np.testing.assert_allclose(result[index, 0], degrade.smear(batch[index, 0], sigma), rtol=1e-10, atol=1e-10)


def test_smear_agrees_in_float32(batch):
    result = degrade_torch.smear(torch.from_numpy(batch).float(), 1.0).numpy()
    np.testing.assert_allclose(result[:, 0], [degrade.smear(image[0], 1.0) for image in batch], rtol=1e-4, atol=1e-4)


def test_rescale_agrees_with_numpy_per_sample(batch):
    sizes = [125, 100, 75, 50, 25]
    result = degrade_torch.rescale(torch.from_numpy(batch), sizes).numpy()
    for index, size in enumerate(sizes):
        np.testing.assert_allclose(result[index, 0], degrade.rescale(batch[index, 0], size), rtol=1e-10, atol=1e-10)


def test_gaussian_noise_statistics_per_sample(batch):
    images = torch.from_numpy(np.repeat(batch[:1], 4, axis=0))
    alphas = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    residual = degrade_torch.gaussian_noise(images, alphas, torch.Generator().manual_seed(0)) - images
    expected = alphas * images[0].mean()
    np.testing.assert_allclose(residual.std(dim=(1, 2, 3)).numpy(), expected.numpy(), rtol=0.02)
    assert residual[0].abs().max() == 0


def test_poisson_noise_statistics_per_sample():
    images = torch.full((2, 1, 125, 125), 2.0, dtype=torch.float64)
    counts = torch.tensor([125 * 125 * 4.0, 125 * 125 * 16.0], dtype=torch.float64)
    noisy = degrade_torch.poisson_noise(images, counts, torch.Generator().manual_seed(0))
    photons = noisy * (counts / images.sum(dim=(1, 2, 3)))[:, None, None, None]
    np.testing.assert_allclose(photons.mean(dim=(1, 2, 3)).numpy(), [4.0, 16.0], rtol=0.01)
    np.testing.assert_allclose(photons.var(dim=(1, 2, 3)).numpy(), [4.0, 16.0], rtol=0.03)


def test_noise_is_reproducible_with_a_seeded_generator(batch):
    images = torch.from_numpy(batch)
    first = degrade_torch.poisson_noise(images, 1e5, torch.Generator().manual_seed(5))
    second = degrade_torch.poisson_noise(images, 1e5, torch.Generator().manual_seed(5))
    assert torch.equal(first, second)


def test_empty_sample_stays_empty_under_poisson_noise():
    images = torch.zeros(2, 1, 8, 8)
    images[1] = 1.0
    noisy = degrade_torch.poisson_noise(images, 100.0, torch.Generator().manual_seed(0))
    assert noisy[0].abs().max() == 0 and noisy[1].sum() > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: degrade_torch.smear(x[0], 1.0), r"shape \(N, 1, H, W\)"),
        (lambda x: degrade_torch.smear(x, [1.0, 2.0]), "one value or 5 values"),
        (lambda x: degrade_torch.smear(x, -0.5), "sigma_px must be >= 0"),
        (lambda x: degrade_torch.gaussian_noise(x, -1.0), "alpha must be >= 0"),
        (lambda x: degrade_torch.poisson_noise(x, 0.0), "counts must be > 0"),
        (lambda x: degrade_torch.rescale(x, 1), "size must be between 2 and 125"),
        (lambda x: degrade_torch.rescale(x, 200), "size must be between 2 and 125"),
        (lambda x: degrade_torch.smear(x * float("nan"), 1.0), "NaN or Inf"),
        (lambda x: degrade_torch.smear(-x - 1, 1.0), "negative intensities"),
        (lambda x: degrade_torch.smear(x.long(), 1.0), "floating point"),
    ],
)
def test_bad_batches_raise_value_error_naming_the_problem(batch, call, message):
    with pytest.raises(ValueError, match=message):
        call(torch.from_numpy(batch))
