"""Train a tiny model on on-the-fly simulations, find its bundle by name, resume, evaluate it."""
import json

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.models import list_models, load_model
from xicam_gisaxs_cnn_trainer.evaluation.report import run_evaluation
from xicam_gisaxs_cnn_trainer.train import get_args_parser, main

TINY = ["--arch", "compact", "--data", "simulate", "--batches-per-epoch", "2", "--validation-batches", "1",
        "--batch-size", "14", "--quiet", "--seed", "3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A compact model trained for two tiny epochs into a user model directory."""
    user_dir = tmp_path_factory.mktemp("user-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GISAXS_CNN_MODEL_DIR", str(user_dir))
        bundle = main(get_args_parser().parse_args([*TINY, "--epochs", "2", "--name", "tiny"]))
    return user_dir, bundle


def test_training_writes_a_bundle_the_plugin_finds_by_name(trained, monkeypatch):
    user_dir, bundle = trained
    monkeypatch.setenv("GISAXS_CNN_MODEL_DIR", str(user_dir))
    assert bundle == user_dir / "tiny" and list_models()["tiny"] == bundle
    classifier = load_model("tiny")
    manifest = classifier.manifest
    assert manifest["architecture"] == "compact" and manifest["training"]["degradation"] == "mixture"
    assert [entry["epoch"] for entry in manifest["training"]["log"]] == [0, 1]
    assert manifest["ood"]["method"] == "mahalanobis" and manifest["temperature"] > 0
    prediction = classifier.predict(np.random.default_rng(0).random((3, 125, 125)))
    assert np.isfinite(prediction.ood_scores).all() and prediction.probabilities.shape == (3, 7)
    assert not (bundle / "checkpoint.pt").exists() and (user_dir / "tiny.checkpoints" / "checkpoint.pt").exists()


def test_resume_continues_from_the_checkpoint(trained, tmp_path):
    user_dir, _ = trained
    checkpoint = user_dir / "tiny.checkpoints" / "checkpoint.pt"
    resumed = main(get_args_parser().parse_args([*TINY, "--epochs", "3", "--resume", str(checkpoint),
                                                 "--output", str(tmp_path / "resumed")]))
    log = json.loads((resumed / "manifest.json").read_text())["training"]["log"]
    assert [entry["epoch"] for entry in log] == [0, 1, 2]
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["epoch"] == 1 and "lr_scheduler" in saved and saved["args"]["arch"] == "compact"


def test_evaluation_writes_every_table_and_figure(trained, tmp_path):
    _, bundle = trained
    metrics = run_evaluation(load_model(bundle), tmp_path / "report", per_class=3, seed=5,
                             repetition_per_class=1, ood_count=4)
    for name in ("metrics.json", "report.md", "confusion_matrix.png", "pca.png", "reliability.png",
                 "accuracy_vs_repetitions.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    matrix = np.array(metrics["confusion_matrix"])
    np.testing.assert_allclose(matrix.sum(axis=0), 1.0, atol=1e-3)
    assert set(metrics["robust_model_test"]) >= {"clean", "gaussian:1", "rescale:25", "poisson:100000"}
    assert all(0 <= value <= 100 for value in metrics["robust_model_test"].values())
    assert set(metrics["robust_model_train"]) == set(metrics["robust_model_test"])  # the training stream, re-simulated
    assert list(metrics["accuracy_vs_repetitions"]) == ["1", "2", "5", "10", "20", "50", "100", "200"]
    assert set(metrics["ood"]) == {"disordered", "empty", "noise", "ring"}
    assert "| gaussian:1 |" in (tmp_path / "report" / "report.md").read_text()


def test_unknown_data_spec_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown data spec 'cloud:x'"):
        main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--data", "cloud:x", "--output", str(tmp_path / "x")]))


def test_scaled_simulation_with_domain_randomisation_trains(tmp_path):
    args = [*TINY, "--epochs", "1", "--data", "simulate-scaled", "--randomise", "--output", str(tmp_path / "r")]
    bundle = main(get_args_parser().parse_args(args))
    training = json.loads((bundle / "manifest.json").read_text())["training"]
    assert training["randomise"] is True and training["data"]["source"] == "simulate-scaled"
    assert len(training["log"]) == 1 and 0 <= training["log"][0]["validation_accuracy"] <= 1
