"""The compiled CPU preprocessing (numba) against torch's operations, which run on other devices."""
import numba
import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn import preprocess, preprocess_kernel
from xicam_gisaxs_cnn.preprocess import HIGH_PASS_GAIN, HIGH_PASS_WINDOW_PX, LOG_FLOOR, MASK_CHANNEL, model_input_torch
from xicam_gisaxs_cnn.preprocess_kernel import _log1p, fill_inputs

CONSTANTS = dict(log_floor=LOG_FLOOR, log_scale=preprocess._LOG_SCALE, gain=HIGH_PASS_GAIN, window_px=HIGH_PASS_WINDOW_PX)


def torch_operations_input(images: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """The model input as a GPU gets it (torch's operations), here on the CPU."""
    all_finite = bool(torch.isfinite(images.sum()))
    valid = preprocess._validity(images, masks, all_finite)
    inputs = torch.empty((images.shape[0], 3, *images.shape[2:]))
    box_weight = preprocess._mask_weight(preprocess._shared_mask(valid, images))
    preprocess._fill_inputs_eager(images, valid, all_finite, box_weight, inputs)
    return inputs


def awkward_images(rng: np.random.Generator, count: int, height: int, width: int) -> np.ndarray:
    """Intensities over 12 decades with negative, NaN and infinite pixels, and one image of zeros."""
    images = (rng.lognormal(0.0, 3.0, size=(count, 1, height, width)) * 10.0 ** rng.uniform(-6, 6)).astype(np.float32)
    images[rng.random(images.shape) < 0.05] *= -1.0
    images[rng.random(images.shape) < 0.02] = np.nan
    images[rng.random(images.shape) < 0.01] = np.inf
    images[0] = 0.0
    return images


@pytest.mark.parametrize("masks", ["none", "one per image", "one for the batch", "one for a batch of finite images"])
@pytest.mark.parametrize("height, width", [(125, 125), (40, 97), (5, 7)])
def test_the_compiled_pass_gives_the_values_of_torchs_operations(masks, height, width):
    rng = np.random.default_rng(height * width)
    images = torch.from_numpy(awkward_images(rng, 11, height, width))
    if masks == "one for a batch of finite images":  # the batch keeps one validity: one weight for all
        images, masks = torch.nan_to_num(images, posinf=3.0), "one for the batch"
    mask_batch = {"none": None,
                  "one per image": torch.from_numpy(rng.random((11, 1, height, width)) > 0.2),
                  "one for the batch": torch.from_numpy(rng.random((1, 1, height, width)) > 0.3).expand(11, 1, height, width),
                  }[masks]
    compiled, operations = model_input_torch(images, mask_batch), torch_operations_input(images, mask_batch)
    assert torch.isfinite(compiled).all()
    np.testing.assert_allclose(compiled[:, 0], operations[:, 0], atol=1e-6)
    np.testing.assert_allclose(compiled[:, 1], operations[:, 1], atol=2e-5)  # window sums added in another order
    np.testing.assert_array_equal(compiled[:, MASK_CHANNEL], operations[:, MASK_CHANNEL])
    assert not compiled[0, :2].any()  # the image of zeros
    assert compiled[:, 0].max() > 0.5  # a real spread of levels, not a blank
    if mask_batch is not None:
        np.testing.assert_array_equal(compiled[:, MASK_CHANNEL] > 0, mask_batch[:, 0] & torch.isfinite(images[:, 0]))


@pytest.mark.parametrize("shared", [True, False])
def test_each_image_gets_what_it_gets_alone_whatever_its_batch(shared):
    rng = np.random.default_rng(8)
    images = np.abs(awkward_images(rng, 6, 125, 125)[:, 0])
    images[~np.isfinite(images)] = 0.0
    valid = (rng.random((1 if shared else 6, 125, 125)) > 0.25).astype(np.uint8)
    weight = preprocess._mask_weight(torch.from_numpy(valid.astype(bool))[:, None])[:, 0].numpy().copy()
    batch = np.full((6, 3, 125, 125), np.nan, np.float32)
    fill_inputs(images, valid, weight, batch, **CONSTANTS)
    assert np.isfinite(batch).all()
    for index in range(6):
        alone = np.full((1, 3, 125, 125), np.nan, np.float32)
        mask = slice(0, 1) if shared else slice(index, index + 1)
        fill_inputs(images[index:index + 1], valid[mask], weight[mask], alone, **CONSTANTS)
        np.testing.assert_array_equal(alone[0], batch[index])


def test_the_kernels_log1p_agrees_with_numpy_over_fifteen_decades():
    values = np.concatenate([[0.0, 1e-12, 0.4142135, 0.4142136, 1.0], np.logspace(-6, 9, 2001)])
    computed = np.array([_log1p(value) for value in values])
    np.testing.assert_allclose(computed, np.log1p(values), rtol=0, atol=1e-12)  # float32 keeps 6e-8
    assert computed[0] == 0.0


def test_where_numba_finds_no_place_for_its_cache_the_kernel_is_compiled_in_memory(monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_LOCATOR_CLASSES", "IPythonCacheLocator")  # none for a module's file
    with pytest.raises(RuntimeError, match="no locator available"):
        numba.njit(cache=True)(lambda x: x)
    uncached = preprocess_kernel._compiled_fill.__wrapped__(*CONSTANTS.values())
    images = np.random.default_rng(9).gamma(0.5, 10.0, size=(2, 125, 125)).astype(np.float32)
    valid, weight = np.ones((1, 125, 125), np.uint8), np.full((1, 125, 125), -0.05, np.float32)
    expected, computed = np.empty((2, 3, 125, 125), np.float32), np.empty((2, 3, 125, 125), np.float32)
    fill_inputs(images, valid, weight, expected, **CONSTANTS)
    uncached(images, valid, weight, computed)
    np.testing.assert_array_equal(computed, expected)
