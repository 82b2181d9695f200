"""Int8 convolutions: calibration, the bundle's record, the classifier's precision and ``gisaxs-cnn calibrate-int8``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xicam_gisaxs_cnn.canonical import horizon_mask
from xicam_gisaxs_cnn.cli import main
from xicam_gisaxs_cnn.models import Bundle, BundleError, Classifier, MaxSoftmaxOod, build_model, load_model, save_bundle
from xicam_gisaxs_cnn.models.inference import inference_network
from xicam_gisaxs_cnn.models.int8 import AVX2_ENVIRONMENT, Int8Blocks, calibrate, quantised_blocks
from xicam_gisaxs_cnn.preprocess import model_input_torch
from xicam_gisaxs_cnn_trainer.int8 import calibrate_bundle


def _trained_compact(seed: int) -> nn.Module:
    """A compact network whose batch norms carry statistics, as a trained one's do."""
    torch.manual_seed(seed)
    model = build_model("compact", width=8).eval()
    generator = torch.Generator().manual_seed(seed)
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.copy_(torch.randn(layer.num_features, generator=generator) * 0.1)
            layer.running_var.copy_(torch.rand(layer.num_features, generator=generator) + 0.5)
    return model


def _save(model: nn.Module, directory, **options):
    """``model`` (a width-8 compact network) as a bundle."""
    return save_bundle(model, directory, architecture_kwargs={"width": 8}, **options)


def _images(seed: int, count: int) -> np.ndarray:
    """Speckled images with a bright rod and peaks, as intensities (count, 125, 125)."""
    rng = np.random.default_rng(seed)
    images = rng.gamma(0.5, 10.0, size=(count, 125, 125)).astype(np.float32)
    images[:, :, 60:65] *= 50.0
    images[:, 30::20, 20::25] *= 200.0
    return images


def _model_inputs(images: np.ndarray) -> torch.Tensor:
    masks = torch.from_numpy(horizon_mask())[None, None].expand(images.shape[0], 1, 125, 125)
    return model_input_torch(torch.from_numpy(images)[:, None], masks)


@pytest.fixture(scope="module")
def calibrated_bundle(tmp_path_factory):
    """A compact bundle and the same bundle with an int8 calibration on 48 images."""
    model = _trained_compact(1)
    folder = tmp_path_factory.mktemp("bundles")
    plain = _save(model, folder / "plain", ood=MaxSoftmaxOod(0.5))
    record = calibrate(load_model(plain).network, _model_inputs(_images(2, 48)))
    record["weights_sha256"] = load_model(plain).sha256
    return plain, _save(model, folder / "int8", ood=MaxSoftmaxOod(0.5), int8=record)


def test_the_compact_networks_three_blocks_are_quantised_and_the_others_none():
    assert quantised_blocks(inference_network(_trained_compact(0)).backbone) == [1, 2, 3]
    alexnet = build_model("alexnet").eval()
    assert quantised_blocks(inference_network(alexnet).backbone) == []
    with pytest.raises(ValueError, match="compact architecture"):
        calibrate(inference_network(alexnet), torch.zeros(2, 3, 125, 125))
    with pytest.raises(ValueError, match=r"model 'paper' \(alexnet\) has no .* int8 serves the compact architecture"):
        calibrate_bundle(Classifier(Bundle(alexnet, {"name": "paper", "architecture": "alexnet"}, Path(".")), "cpu"))


def test_a_calibrated_bundle_runs_int8_close_to_float32(calibrated_bundle):
    plain, calibrated = calibrated_bundle
    floats, int8s = load_model(plain), load_model(calibrated)
    assert (floats.precision, int8s.precision) == ("float32", "int8")
    assert any(isinstance(layer, Int8Blocks) for layer in int8s.network.modules())
    assert not any(isinstance(layer, Int8Blocks) for layer in floats.network.modules())
    images = _images(3, 16)  # not the calibration's
    masks = np.broadcast_to(horizon_mask(), images.shape)
    expected, got = floats.predict(images, masks), int8s.predict(images, masks)
    difference = np.linalg.norm(got.embeddings - expected.embeddings) / np.linalg.norm(expected.embeddings)
    assert 1e-5 < difference < 0.05  # int8 really ran, and rounds the activations by about 1%
    assert np.abs(got.probabilities - expected.probabilities).max() < 0.05


def test_precision_float32_gives_exactly_what_a_bundle_without_calibration_gives(calibrated_bundle):
    plain, calibrated = calibrated_bundle
    images = _images(4, 5)
    classifier = load_model(calibrated, precision="float32")
    np.testing.assert_array_equal(classifier.predict(images).probabilities, load_model(plain).predict(images).probabilities)
    classifier.precision = "int8"
    assert np.abs(classifier.predict(images).probabilities - load_model(plain).predict(images).probabilities).max() > 0


def test_int8_is_refused_with_the_reason(calibrated_bundle):
    plain, _ = calibrated_bundle
    classifier = load_model(plain)
    with pytest.raises(ValueError, match="carries no int8 calibration.*calibrate-int8"):
        classifier.precision = "int8"
    with pytest.raises(ValueError, match="precision must be one of float32, int8"):
        load_model(plain, precision="float16")
    assert classifier.precision == "float32"


def test_changed_weights_run_float32_as_the_calibration_no_longer_fits(calibrated_bundle):
    _, calibrated = calibrated_bundle
    classifier = load_model(calibrated)
    images = _images(5, 3)
    assert classifier.precision == "int8"
    with torch.no_grad():
        classifier.model.fc.bias.add_(torch.arange(7.0))  # as an optimiser step would
        expected = torch.softmax(classifier.model(model_input_torch(torch.from_numpy(images)[:, None])), 1).numpy()
    np.testing.assert_allclose(classifier.predict(images).probabilities, expected, rtol=1e-4, atol=1e-5)
    assert not any(isinstance(layer, Int8Blocks) for layer in classifier.network.modules())
    assert classifier.precision == "float32"


def _rewrite_record(bundle, tmp_path, change) -> str:
    copy = tmp_path / "edited"
    copy.mkdir()
    (copy / "model.safetensors").write_bytes((bundle / "model.safetensors").read_bytes())
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest["int8"])
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


@pytest.mark.parametrize("change, message", [
    (lambda record: record.update(weights_sha256="0" * 64), "calibrated for weights of sha256 '0000"),
    (lambda record: record["activations"][1].__setitem__(0, -1.0), r"is not \[scale > 0, zero_point in 0-127\]"),
    (lambda record: record["activations"].pop(), "must hold 4 .scale, zero_point. pairs"),
    (lambda record: record.update(engine="qnnpack"), "engine must be 'x86'"),
])
def test_a_bad_int8_record_is_refused_at_load_naming_the_problem(calibrated_bundle, tmp_path, change, message):
    _, calibrated = calibrated_bundle
    with pytest.raises(BundleError, match=message):
        load_model(_rewrite_record(calibrated, tmp_path, change))


def test_a_calibration_of_other_weights_is_not_saved(calibrated_bundle, tmp_path):
    _, calibrated = calibrated_bundle
    record = load_model(calibrated).manifest["int8"]
    with pytest.raises(BundleError, match="calibrated for weights"):
        _save(_trained_compact(7), tmp_path / "other", int8=record)


def test_calibrate_int8_command_writes_a_bundle_that_runs_int8_and_says_how_it_compares(tmp_path, capsys):
    source = _save(_trained_compact(8), tmp_path / "source", ood=MaxSoftmaxOod(0.5), training={"seed": 8})
    (source / "report").mkdir()
    (source / "report" / "report.md").write_text("# evaluation of source\n")
    output = tmp_path / "calibrated"
    assert main(["calibrate-int8", "--model", str(source), "--output", str(output), "--per-class", "2",
                 "--test-per-class", "1"]) == 0
    printed = capsys.readouterr().out
    classifier = load_model(output)
    record, before = classifier.manifest["int8"], load_model(source).manifest
    assert classifier.precision == "int8" and classifier.sha256 == load_model(source).sha256
    assert record["calibration"] == {"per_class": 2, "seed": 777, "degradations": ["clean", "mixture"], "patterns": 28}
    rows = record["measured"]["degradations"]
    assert list(rows) == ["clean", "smear:1", "gaussian:1", "poisson:100000", "rescale:25", "mixture"]
    for row in rows.values():
        assert 0 <= row["int8_percent"] <= 100 and 0 <= row["same_label_percent"] <= 100
        assert f"{row['float32_percent']:.2f}" in printed
    assert (output / "report" / "report.md").read_text() == "# evaluation of source\n"
    assert {key: classifier.manifest[key] for key in ("training", "temperature", "ood")} == {
        key: before[key] for key in ("training", "temperature", "ood")}
    assert main(["calibrate-int8", "--model", str(source), "--output", str(source)]) == 2
    assert "is the bundle being read" in capsys.readouterr().err


def test_the_shipped_default_runs_int8_and_labels_as_float32_does():
    from xicam_gisaxs_cnn_trainer.evaluation.report import simulate_test_set

    classifier = load_model()
    assert classifier.precision == "int8"
    measured = classifier.manifest["int8"]["measured"]["degradations"]
    assert measured["clean"]["int8_percent"] >= 99.5 and measured["gaussian:1"]["int8_percent"] >= 95.0
    test = simulate_test_set(4, seed=2468)
    images = test.images[:, 0].float().numpy()
    masks = np.broadcast_to(horizon_mask(), images.shape)
    int8 = classifier.predict(images, masks)
    classifier.precision = "float32"
    floats = classifier.predict(images, masks)
    np.testing.assert_array_equal(int8.class_indices, floats.class_indices)
    assert np.mean(int8.class_indices == test.labels.numpy()) >= 27 / 28
    assert np.abs(int8.probabilities - floats.probabilities).max() < 0.1


def test_live_classification_takes_a_precision_for_the_shipped_models_only(calibrated_bundle):
    from xicam_gisaxs_cnn.live import LiveClassifier

    with pytest.raises(ValueError, match="give precision for the shipped models chosen per run.*not both"):
        LiveClassifier(lambda name, doc: None, classifier=load_model(calibrated_bundle[1]), precision="float32")
    live = LiveClassifier(lambda name, doc: None, precision="float32")
    assert live.models(detector_frames=False).precision == "float32"  # the shipped default, int8 on its own
    with pytest.raises(ValueError, match="precision must be one of float32, int8, got 'half'"):
        LiveClassifier(lambda name, doc: None, precision="half")


_AS_AVX2_SCRIPT = """
import sys, warnings
import numpy as np, torch
import torch.ao.nn.quantized as quantized
from xicam_gisaxs_cnn.models import load_model

warnings.filterwarnings("ignore", category=DeprecationWarning)
data = np.load(sys.argv[1])
prediction = load_model().predict(data["images"], data["masks"])
saturating = quantized.Conv2d(64, 1, 3)  # uint8 255 x int8 127: pair sums past the 16 bits of AVX2's products
saturating.set_weight_bias(torch.quantize_per_tensor(torch.ones(1, 64, 3, 3), 1 / 127, 0, torch.qint8), None)
saturating.scale, saturating.zero_point = 1000.0, 0
full = saturating(torch.quantize_per_tensor(torch.full((1, 64, 3, 3), 255.0), 1.0, 0, torch.quint8))
np.savez(sys.argv[2], probabilities=prediction.probabilities, precision=load_model().precision,
         capability=torch.backends.cpu.get_cpu_capability(), saturating=full.dequantize().item())
"""


def test_the_shipped_default_in_int8_labels_on_an_avx2_cpu_as_here(tmp_path):
    """Its activations stay on 0-127, so AVX2's saturating 16-bit products leave its probabilities as they are."""
    from xicam_gisaxs_cnn_trainer.evaluation.report import simulate_test_set

    images = simulate_test_set(3, seed=1357).images[:, 0].float().numpy()
    masks = np.broadcast_to(horizon_mask(), images.shape)
    np.savez(tmp_path / "inputs.npz", images=images, masks=masks)
    here = load_model().predict(images, masks)
    subprocess.run([sys.executable, "-c", _AS_AVX2_SCRIPT, str(tmp_path / "inputs.npz"), str(tmp_path / "avx2.npz")],
                   check=True, env={**os.environ, **AVX2_ENVIRONMENT}, timeout=300)
    avx2 = np.load(tmp_path / "avx2.npz")
    assert str(avx2["capability"]) == "AVX2" and str(avx2["precision"]) == "int8"
    assert float(avx2["saturating"]) < 0.6 * 576 * 255  # the emulation took effect: exact is 146880, saturated 74000
    np.testing.assert_array_equal(avx2["probabilities"].argmax(axis=1), here.class_indices)
    assert np.abs(avx2["probabilities"] - here.probabilities).max() < 1e-3
