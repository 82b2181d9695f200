"""The inference copy of a network (folded batch norms and q coordinates) and chunked prediction."""
import numpy as np
import pytest
import torch
from torch import nn

from xicam_gisaxs_cnn.models import build_model, load_model, save_bundle
from xicam_gisaxs_cnn.models.architectures import QCoordinates
from xicam_gisaxs_cnn.models.inference import CoordinateBiasedConv, inference_network
from xicam_gisaxs_cnn.preprocess import INPUT_CHANNELS, model_input, model_input_torch


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


def test_a_pool_that_receives_its_own_output_size_is_dropped_and_others_stay():
    compact = inference_network(_with_trained_batch_norms(build_model("compact"), seed=5))
    assert not any(isinstance(layer, nn.AdaptiveAvgPool2d) for layer in compact.modules())  # 4 x 4 in, 4 x 4 out
    resnet = inference_network(_with_trained_batch_norms(build_model("resnet50"), seed=6))
    assert [layer.output_size for layer in resnet.modules() if isinstance(layer, nn.AdaptiveAvgPool2d)] == [1]


def test_on_the_cpu_the_copy_lays_out_convolutions_past_the_input_channels_last_and_leaves_the_model_alone():
    torch.manual_seed(12)
    model = build_model("alexnet").eval()
    network = inference_network(model)
    first, *convolutions = [layer for layer in network.modules() if isinstance(layer, nn.Conv2d)]
    assert network is not model and len(convolutions) == 4
    assert first.weight.is_contiguous() and not first.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(layer.weight.is_contiguous(memory_format=torch.channels_last) for layer in convolutions)
    assert all(layer.weight.is_contiguous() for layer in model.modules() if isinstance(layer, nn.Conv2d))
    assert network.fc.weight is model.fc.weight  # the fully connected layers stay shared
    inputs = model_input_torch(torch.rand(2, 1, 125, 125) * 50)
    with torch.no_grad():
        assert torch.allclose(network(inputs), model(inputs), rtol=1e-4, atol=1e-5)


def test_the_compact_stem_reads_the_input_in_the_standard_layout_and_the_blocks_channels_last():
    compact = inference_network(_with_trained_batch_norms(build_model("compact", width=8), seed=13))
    stem, *blocks = [layer for layer in compact.modules() if isinstance(layer, nn.Conv2d)]
    assert stem.in_channels == INPUT_CHANNELS and stem.weight.is_contiguous()
    assert not stem.weight.is_contiguous(memory_format=torch.channels_last)
    assert len(blocks) == 3 and all(layer.weight.is_contiguous(memory_format=torch.channels_last) for layer in blocks)


def test_a_network_with_nothing_to_rewrite_is_used_as_it_is():
    model = build_model("alexnet").to("meta")  # off the CPU, AlexNet has no batch norm, coordinates or idle pool
    assert inference_network(model) is model and model.training  # its mode is the caller's


def test_the_copy_shares_the_layers_it_does_not_fold():
    model = _with_trained_batch_norms(build_model("compact"), seed=8)
    network = inference_network(model)
    assert network.fc.weight is model.fc.weight and network.backbone[-2].weight is model.backbone[-2].weight
    stem = next(layer for layer in model.modules() if isinstance(layer, nn.Conv2d))
    assert stem.weight.shape[1] == 5  # the trained stem still takes the coordinates


def test_prediction_follows_the_trained_module_when_its_weights_change(tmp_path):
    torch.manual_seed(9)
    classifier = load_model(save_bundle(_with_trained_batch_norms(build_model("compact"), seed=10), tmp_path / "m"))
    images = np.random.default_rng(11).gamma(0.5, 10.0, size=(4, 125, 125))
    before, network = classifier.predict(images).probabilities, classifier.network
    assert classifier.network is network  # unchanged weights: the same copy
    with torch.no_grad():
        classifier.model.fc.bias.add_(torch.arange(7.0))  # as an optimiser step would
        next(layer for layer in classifier.model.modules() if isinstance(layer, nn.BatchNorm2d)).running_mean.mul_(2.0)
        expected = torch.softmax(classifier.model(model_input_torch(torch.from_numpy(images).float()[:, None])), 1)
    after = classifier.predict(images).probabilities
    assert classifier.network is not network
    assert np.abs(after - before).max() > 0.05
    np.testing.assert_allclose(after, expected.numpy(), rtol=1e-4, atol=1e-5)
    updated = classifier.network
    classifier.model.fc = nn.Linear(classifier.model.fc.in_features, 7)  # a layer replaced, not changed in place
    assert classifier.network is not updated
    assert np.abs(classifier.predict(images).probabilities - after).max() > 0.05


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


def test_a_mask_broadcast_along_the_batch_gives_what_each_image_gets_with_its_own_copy(tmp_path):
    classifier = load_model(save_bundle(_with_trained_batch_norms(build_model("compact"), seed=13), tmp_path / "m"))
    images = np.random.default_rng(14).gamma(0.5, 10.0, size=(5, 125, 125)).astype(np.float32)
    mask = np.random.default_rng(15).random((125, 125)) > 0.3
    broadcast = classifier.predict(images, np.broadcast_to(mask, images.shape), batch_size=2)
    copied = classifier.predict(images, np.repeat(mask[None], 5, axis=0), batch_size=2)
    np.testing.assert_array_equal(broadcast.probabilities, copied.probabilities)
    assert broadcast.probabilities.std() > 0.01  # the comparison is not between near-constant outputs


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


@pytest.mark.parametrize("batch_size", [0, 2.5])
def test_a_chunk_size_that_is_not_a_positive_integer_is_named(untrained_bundle, batch_size):
    with pytest.raises(ValueError, match=f"batch_size must be an integer >= 1, got {batch_size}"):
        load_model(untrained_bundle).predict(np.ones((2, 125, 125)), batch_size=batch_size)


def test_an_empty_batch_is_named(untrained_bundle):
    with pytest.raises(ValueError, match="images hold no image"):
        load_model(untrained_bundle).predict(np.ones((0, 125, 125)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_prediction_on_a_gpu_matches_the_cpu(untrained_bundle):
    images = np.random.default_rng(12).gamma(0.5, 10.0, size=(5, 125, 125))
    on_cpu = load_model(untrained_bundle).predict(images).probabilities
    on_gpu = load_model(untrained_bundle, device="cuda").predict(images).probabilities
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-3, atol=1e-4)


def test_arrays_of_every_layout_are_read_without_being_changed(untrained_bundle):
    classifier = load_model(untrained_bundle)
    rng = np.random.default_rng(12)
    images = (rng.gamma(0.5, 50.0, size=(5, 125, 125)) - 5.0).astype(np.float32)
    masks = rng.random((5, 125, 125)) > 0.2
    kept_images, kept_masks = images.copy(), masks.copy()
    expected = classifier.predict(images, masks).probabilities  # shared with torch, not copied
    np.testing.assert_array_equal(images, kept_images)
    np.testing.assert_array_equal(masks, kept_masks)
    read_only = images.copy()
    read_only.flags.writeable = False
    layouts = {
        "read-only": (read_only, masks),
        "big-endian": (images.astype(">f4"), masks),
        "big-endian, one mask for all": (images.astype(">f4"), np.broadcast_to(masks[:1].astype(">i2"), masks.shape)),
        "reversed, then reversed back": (images[::-1].copy()[::-1], masks[::-1].copy()[::-1]),
        "float64": (images.astype(np.float64), masks),
        "Fortran order": (np.asfortranarray(images), np.asfortranarray(masks)),
    }
    for layout, (these_images, these_masks) in layouts.items():
        reference = expected if "one mask" not in layout else classifier.predict(images, np.broadcast_to(masks[:1], masks.shape)).probabilities
        np.testing.assert_allclose(classifier.predict(these_images, these_masks).probabilities, reference,
                                   atol=1e-6, err_msg=layout)
