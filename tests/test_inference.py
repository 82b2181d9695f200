"""The inference copy of a network (folded batch norms and q coordinates) and chunked prediction."""
import numpy as np
import pytest
import torch
from torch import nn

from xicam_gisaxs_cnn.models import build_model, load_model, save_bundle
from xicam_gisaxs_cnn.models.architectures import QCoordinates
from xicam_gisaxs_cnn.models.inference import CoordinateBiasedConv, inference_network
from xicam_gisaxs_cnn.preprocess import model_input, model_input_torch


def _with_trained_batch_norms(model: nn.Module, seed: int) -> nn.Module:
    """Give every batch norm running statistics and an affine part far from the identity."""
    generator = torch.Generator().manual_seed(seed)
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            size = layer.num_features
            layer.running_mean.copy_(torch.randn(size, generator=generator))
            layer.running_var.copy_(torch.rand(size, generator=generator) * 3 + 0.2)
            layer.weight.data.copy_(torch.randn(size, generator=generator))
            layer.bias.data.copy_(torch.randn(size, generator=generator))
    return model.eval()


@pytest.mark.parametrize("architecture", ["compact", "resnet50"])
def test_the_inference_copy_gives_the_trained_modules_outputs_without_batch_norms(architecture):
    torch.manual_seed(0)
    model = _with_trained_batch_norms(build_model(architecture), seed=1)
    network = inference_network(model)
    inputs = model_input_torch(torch.rand(3, 1, 125, 125) * 50)
    with torch.no_grad():
        expected_logits, expected_embedding = model(inputs), model.embed(inputs)
        logits, embedding = network(inputs), network.embed(inputs)
    assert not any(isinstance(layer, nn.BatchNorm2d) for layer in network.modules())
    assert any(isinstance(layer, nn.BatchNorm2d) for layer in model.modules())  # the trained module is left as it was
    assert torch.allclose(embedding, expected_embedding, rtol=1e-4, atol=1e-4)
    assert torch.allclose(logits, expected_logits, rtol=1e-4, atol=1e-4)
    assert expected_logits.std() > 0.1  # the comparison is not between near-constant outputs


def test_the_compact_networks_coordinates_become_a_bias_map_of_the_stem():
    model = _with_trained_batch_norms(build_model("compact"), seed=2)
    network = inference_network(model)
    assert not any(isinstance(layer, QCoordinates) for layer in network.modules())
    stem = next(layer for layer in network.modules() if isinstance(layer, CoordinateBiasedConv))
    assert stem.conv.in_channels == 3 and stem.bias_map.shape == (1, 24, 31, 31)
    # the map varies across the grid: it carries where each pixel sits in q
    assert stem.bias_map.std(dim=(2, 3)).min() > 0


def test_a_network_with_nothing_to_fold_is_used_as_it_is():
    model = build_model("alexnet")
    assert inference_network(model) is model and not model.training


def test_prediction_in_chunks_matches_one_pass_and_the_trained_module(tmp_path):
    torch.manual_seed(3)
    model = _with_trained_batch_norms(build_model("compact"), seed=4)
    classifier = load_model(save_bundle(model, tmp_path / "m", temperature=1.5))
    images = np.random.default_rng(5).gamma(0.5, 10.0, size=(7, 125, 125)).astype(np.float32)
    images[2, 40:50, 10:90] = np.nan  # a chunk with a non-finite pixel next to chunks without
    masks = np.random.default_rng(6).random(images.shape) > 0.2
    chunked = classifier.predict(images, masks, batch_size=3)
    whole = classifier.predict(images, masks, batch_size=64)
    np.testing.assert_allclose(chunked.probabilities, whole.probabilities, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        logits = model(model_input_torch(torch.from_numpy(images)[:, None], torch.from_numpy(masks)[:, None]))
    np.testing.assert_allclose(whole.probabilities, torch.softmax(logits / 1.5, 1).numpy(), rtol=1e-4, atol=1e-5)


def test_non_finite_pixels_are_masked_whether_or_not_their_batch_has_others():
    images = np.random.default_rng(7).gamma(0.5, 10.0, size=(3, 125, 125)).astype(np.float32)
    images[1, 5:9, 5:9] = np.inf
    images[1, 60, :] = np.nan
    batch = model_input_torch(torch.from_numpy(images)[:, None]).numpy()
    finite = np.isfinite(images[1])
    for image, inputs in zip(images, batch):
        np.testing.assert_array_equal(inputs, model_input(image))
    np.testing.assert_array_equal(batch[1, 2], finite)
    assert np.isfinite(batch).all() and batch[0, 2].all() and batch[2, 2].all()
    np.testing.assert_array_equal(batch[1, :2, ~finite], 0.0)


def test_a_chunk_size_below_one_is_named(untrained_bundle):
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        load_model(untrained_bundle).predict(np.ones((2, 125, 125)), batch_size=0)
