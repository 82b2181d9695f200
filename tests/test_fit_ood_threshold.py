"""``gisaxs-cnn fit-ood-threshold``: a model's OOD threshold set on realistic frames, weights unchanged."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.cli import main
from xicam_gisaxs_cnn.models import MaxSoftmaxOod, build_model, load_model, save_bundle
from xicam_gisaxs_cnn_trainer.realistic.threshold import fit_ensemble_temperature


@pytest.fixture(scope="module")
def max_softmax_bundle(tmp_path_factory):
    torch.manual_seed(5)
    model = build_model("compact").eval()
    path = save_bundle(model, tmp_path_factory.mktemp("bundles") / "msp", temperature=0.3, ood=MaxSoftmaxOod(0.5),
                       training={"seed": 5}, metrics={"validation_accuracy": 0.25})
    (path / "report").mkdir()
    (path / "report" / "report.md").write_text("# evaluation of msp\n")
    return path


def test_the_threshold_flags_the_requested_fraction_of_realistic_frames_and_nothing_else_changes(
        max_softmax_bundle, tmp_path, capsys):
    output = tmp_path / "msp-frames"
    status = main(["fit-ood-threshold", "--model", str(max_softmax_bundle), "--output", str(output), "--per-class", "1",
                   "--detector", "small", "--lattice-constants", "10", "50", "--false-alarm", "0.1",
                   "--test-time-smear", "0", "1.5"])
    assert status == 0
    before, after = load_model(max_softmax_bundle), load_model(output)
    fit = json.loads((output / "report" / "ood_threshold_fit.json").read_text())
    scores = np.array(fit["scores"])
    assert fit["frames"] + fit["refused"] == 14 and fit["frames"] == len(scores) > 0
    assert after.bundle.ood.threshold == np.quantile(scores, 0.9) != before.bundle.ood.threshold
    assert np.mean(scores > after.bundle.ood.threshold) == pytest.approx(np.ceil(0.1 * (len(scores) - 1)) / len(scores))
    # a temperature of 0.3 sharpens the untrained model's outputs, so the scores spread
    assert scores.min() < after.bundle.ood.threshold < scores.max()
    record = after.manifest["ood"]["threshold_fit"]
    assert record["previous_threshold"] == 0.5 and record["seed"] == 424242 and record["lattice_constants_nm"] == [10.0, 50.0]
    assert "scores" not in record and record["window_scale"] == "ensemble" and record["fold"] is True
    assert after.sha256 == before.sha256 and after.temperature == before.temperature == 0.3
    assert before.test_time_smear_px == (0.0,) and after.test_time_smear_px == (0.0, 1.5)  # fitted with the views
    assert record["test_time_smear_px"] == [0.0, 1.5] and record["precision"] == "float32"  # not calibrated for int8
    assert after.manifest["training"] == {"seed": 5} and after.manifest["metrics"] == {"validation_accuracy": 0.25}
    printed = capsys.readouterr().out
    assert f"threshold 0.5000 -> {record['threshold']:.4f}" in printed
    # the same frames fit the ensemble temperature, which only sharpens or flattens
    assert after.ensemble_temperature == record["ensemble_temperature"] == fit["ensemble_temperature"] != 1.0
    assert before.ensemble_temperature == 1.0 and f"ensemble temperature 1 -> {after.ensemble_temperature:.4g}" in printed
    calibration = record["ensemble_calibration"]
    assert calibration["nll_after"] < calibration["nll_before"]
    assert (output / "report" / "report.md").read_text() == "# evaluation of msp\n"  # the evaluation comes along


def test_the_ensemble_temperature_fit_sharpens_underconfident_and_flattens_overconfident_probabilities():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 7, 400)
    right = rng.random(400) < 0.9  # 90% of the labels right
    predicted = np.where(right, labels, (labels + rng.integers(1, 7, 400)) % 7)
    for top, sharpens in ((0.3, True), (0.999, False)):  # probability of the predicted class: far below or above 90%
        probabilities = np.full((400, 7), (1 - top) / 6)
        probabilities[np.arange(400), predicted] = top
        temperature, measures = fit_ensemble_temperature(probabilities, labels)
        assert (temperature < 1.0) if sharpens else (temperature > 1.0)
        assert measures["nll_after"] < measures["nll_before"]
        assert measures["ece_before_percent"] == pytest.approx(100 * abs(np.mean(right) - top), abs=0.01)
        assert measures["ece_after_percent"] < 1.0
    [temperature, _] = fit_ensemble_temperature(np.eye(7)[labels] * 0.5 + 0.5 / 7, labels)
    assert temperature == 1.0  # every frame right: the likelihood says nothing of calibration


def test_a_model_without_an_ood_score_is_refused(untrained_bundle, tmp_path, capsys):
    status = main(["fit-ood-threshold", "--model", str(untrained_bundle), "--output", str(tmp_path / "x"),
                   "--detector", "small"])
    assert status == 2 and "carries no OOD score" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--per-class", "1"], "give --name"),
    (["--name", "x", "--false-alarm", "1.5"], "false_alarm must be in (0, 1)"),
    (["--name", "x", "--detector", "eiger"], "--detector must be one of"),
    (["--name", "x", "--test-time-smear", "0", "-1"], "test_time_smear_px must be widths in [0, 10] px"),
])
def test_bad_arguments_are_named(max_softmax_bundle, arguments, message, capsys):
    assert main(["fit-ood-threshold", "--model", str(max_softmax_bundle), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_the_bundle_being_read_is_never_overwritten(max_softmax_bundle, capsys):
    manifest = (max_softmax_bundle / "manifest.json").read_text()
    assert main(["fit-ood-threshold", "--model", str(max_softmax_bundle), "--output", str(max_softmax_bundle)]) == 2
    assert "is the bundle being read" in capsys.readouterr().err
    assert (max_softmax_bundle / "manifest.json").read_text() == manifest
