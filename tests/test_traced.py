"""The traced embedding and logits that ``Classifier.predict`` runs: the network's own numbers, for any batch."""
import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from xicam_gisaxs_cnn.canonical import horizon_mask
from xicam_gisaxs_cnn.models import build_model, load_model
from xicam_gisaxs_cnn.models.inference import inference_network
from xicam_gisaxs_cnn.models.traced import traced
from xicam_gisaxs_cnn.preprocess import model_input_torch


def _inputs(count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return model_input_torch(torch.rand(count, 1, 125, 125, generator=generator) ** 4 * 1e4)


@pytest.mark.parametrize("architecture", ["compact", "alexnet", "resnet50"])
def test_the_trace_gives_the_networks_embedding_and_logits_for_other_batch_sizes(architecture):
    torch.manual_seed(2)
    network = inference_network(build_model(architecture).eval())
    forward = traced(network)
    assert isinstance(forward, torch.jit.ScriptModule)
    for count in (1, 3, 2, 3):  # the trace was taken on one image; TorchScript optimises after its first runs
        inputs = _inputs(count, seed=count)
        with torch.inference_mode():
            embedding, logits = forward(inputs)
            expected_embedding = network.embed(inputs)
            expected_logits = network.fc(expected_embedding)
        assert embedding.shape == expected_embedding.shape and logits.shape == (count, 7)
        torch.testing.assert_close(embedding, expected_embedding, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(logits, expected_logits, rtol=1e-5, atol=1e-6)
        assert expected_logits.std() > 1e-3  # not a comparison of constant outputs


def test_the_shipped_default_predicts_in_int8_through_the_trace_what_its_network_gives():
    classifier = load_model()
    images = (np.random.default_rng(4).gamma(0.5, 20.0, size=(5, 125, 125)) * horizon_mask()).astype(np.float32)
    masks = np.broadcast_to(horizon_mask(), images.shape)
    prediction = classifier.predict(images, masks)
    assert classifier.precision == "int8" and isinstance(classifier._inference()[1], torch.jit.ScriptModule)
    with torch.inference_mode():
        embedding = classifier.network.embed(model_input_torch(torch.from_numpy(images)[:, None],
                                                               torch.from_numpy(masks.copy())[:, None]))
        probabilities = torch.softmax(classifier.network.fc(embedding) / classifier.temperature, dim=1)
    np.testing.assert_array_equal(prediction.embeddings, embedding.numpy())
    np.testing.assert_allclose(prediction.probabilities, probabilities.numpy(), rtol=1e-6, atol=1e-7)


def test_the_trace_is_made_without_telling_the_user_that_tracing_is_deprecated():
    network = inference_network(build_model("compact", width=8).eval())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced(network)
    assert not [warning for warning in caught if "jit" in str(warning.message)]


def test_a_network_in_training_mode_is_not_traced_and_stays_in_training_mode():
    model = build_model("compact", width=8)  # batch norms in training mode: a trace's run would update them
    forward = traced(model)
    assert not isinstance(forward, torch.jit.ScriptModule) and model.training
    assert all(int(layer.num_batches_tracked) == 0 for layer in model.modules() if isinstance(layer, nn.BatchNorm2d))


def test_without_torch_jit_trace_the_module_runs_as_it_is(monkeypatch):
    network = inference_network(build_model("compact", width=8).eval())
    monkeypatch.delattr(torch.jit, "trace")
    forward = traced(network)
    assert isinstance(forward, nn.Module) and not isinstance(forward, torch.jit.ScriptModule)
    inputs = _inputs(2, seed=7)
    with torch.inference_mode():
        embedding, logits = forward(inputs)
        torch.testing.assert_close(logits, network(inputs), rtol=0, atol=0)
        torch.testing.assert_close(embedding, network.embed(inputs), rtol=0, atol=0)


def test_a_classifier_pickles_and_copies_without_its_trace_and_keeps_int8():
    classifier = load_model()
    images = np.random.default_rng(8).gamma(0.5, 20.0, size=(3, 125, 125)).astype(np.float32)
    expected = classifier.predict(images).probabilities  # the trace exists now
    for twin in (pickle.loads(pickle.dumps(classifier)), copy.deepcopy(classifier)):
        assert twin.model is not classifier.model and twin.precision == "int8"
        np.testing.assert_array_equal(twin.predict(images).probabilities, expected)
    with torch.no_grad():
        classifier.model.fc.bias.add_(1.0)  # no longer the bundle's weights: the calibration does not apply
    assert pickle.loads(pickle.dumps(classifier)).precision == "float32" == classifier.precision
