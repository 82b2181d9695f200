"""``gisaxs-cnn evaluate --realistic N``: realistic-frame tables in metrics.json and report.md, consistent with the frames."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.cli import build_parser, main
from xicam_gisaxs_cnn.frames.scale import SCALE_RANGE
from xicam_gisaxs_cnn.models import build_model, load_model, save_bundle
from xicam_gisaxs_cnn_trainer.calibration import fit_nearest_neighbour_ood
from xicam_gisaxs_cnn_trainer.evaluation.report import markdown_report, simulate_test_set
from xicam_gisaxs_cnn_trainer.realistic.evaluate import LATTICE_CONSTANTS_NM, OOD_FILMS, holds_3d_lattice, markdown_tables

PER_CLASS = 1
SUPERLATTICE_FRAMES = PER_CLASS * len(CLASS_NAMES) * len(LATTICE_CONSTANTS_NM)
SWEPT_TABLES = ("accuracy_vs_lattice_nm", "accuracy_vs_masked_fraction", "accuracy_vs_total_counts",
                "accuracy_vs_incidence_deg", "accuracy_vs_lateral_cells", "accuracy_vs_vertical_cells",
                "accuracy_vs_probability")


def _strict_json(text: str) -> dict:
    def refuse(constant: str):
        raise ValueError(f"metrics.json holds {constant}, which strict JSON readers refuse")
    return json.loads(text, parse_constant=refuse)


def _untrained_bundle_with_ood_statistics(directory):
    """An untrained compact model whose bundle holds nearest-neighbour OOD references: its embeddings of 14 simulations."""
    model = build_model("compact")
    patterns = simulate_test_set(2, seed=1)
    embeddings = torch.from_numpy(load_model(save_bundle(model, directory)).predict(patterns.images[:, 0].numpy()).embeddings)
    return save_bundle(model, directory, ood=fit_nearest_neighbour_ood(embeddings, embeddings))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One run of the command: an untrained bundle, 1 clean pattern per class, 1 realistic frame per class and lattice constant."""
    folder = tmp_path_factory.mktemp("realistic-report")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        bundle = _untrained_bundle_with_ood_statistics(folder / "untrained")
        status = main(["evaluate", "--model", str(bundle), "--output", str(folder / "report"), "--per-class", "1",
                       "--realistic", str(PER_CLASS), "--realistic-detector", "small", "--seed", "4"])
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    report = folder / "report"
    return report, _strict_json((report / "metrics.json").read_text())


def test_realistic_metrics_hold_every_table_with_one_record_per_frame(evaluated):
    _, metrics = evaluated
    realistic = metrics["realistic"]
    assert set(realistic) >= {"frames", "accuracy", "errors", *SWEPT_TABLES, "confusion_matrix", "confusion_counts",
                              "refused_per_class", "recall", "hcp_recall", "recall_vs_lattice_nm",
                              "window_scale_vs_lattice_nm", "ood", "goals", "plots", "detector", "per_class"}
    ood_frames = PER_CLASS * len(LATTICE_CONSTANTS_NM)
    assert len(realistic["frames"]) == SUPERLATTICE_FRAMES + len(OOD_FILMS) * ood_frames
    assert Counter(r["kind"] for r in realistic["frames"]) == {**{name: len(LATTICE_CONSTANTS_NM) for name in CLASS_NAMES},
                                                               **{kind: ood_frames for kind in OOD_FILMS}}
    assert list(realistic["accuracy_vs_lattice_nm"]) == ["10", "20", "50", "100", "150"]
    assert realistic["detector"] == "small test detector" and set(realistic["ood"]) == set(OOD_FILMS)


def test_accuracy_tables_average_to_the_overall_accuracy_of_the_records(evaluated):
    _, metrics = evaluated
    realistic = metrics["realistic"]
    lattice = [r for r in realistic["frames"] if r["kind"] in CLASS_NAMES]
    correct = np.array([r["label"] == r["kind"] for r in lattice])
    assert realistic["accuracy"] == pytest.approx(100 * correct.mean(), abs=0.01)
    assert realistic["errors"] == sum(bool(r["error"]) for r in lattice)
    for key in SWEPT_TABLES:
        rows = realistic[key].values()
        assert sum(row["frames"] for row in rows) == SUPERLATTICE_FRAMES, key
        weighted = sum(row["accuracy"] * row["frames"] for row in rows) / SUPERLATTICE_FRAMES
        assert weighted == pytest.approx(realistic["accuracy"], abs=0.02), key
    for key, cells in (("accuracy_vs_lateral_cells", "repetitions_lateral"), ("accuracy_vs_vertical_cells", "repetitions_vertical")):
        one_cell = [r["label"] == r["kind"] for r in lattice if r[cells] == 1]  # 3 and 6 of the 35 with seed 4
        assert realistic[key]["1-2"] == {"centre": pytest.approx(np.sqrt(2)), "frames": len(one_cell),
                                         "accuracy": pytest.approx(100 * np.mean(one_cell), abs=0.01)}
    probabilities = np.array([0.0 if r["error"] else r["probability"] for r in lattice])  # refused: 0
    for name, row in realistic["accuracy_vs_probability"].items():  # plotted at the mean probability of the bin
        low, high = (float(edge) for edge in name.split("-"))
        inside = (probabilities >= low) & ((probabilities < high) if high < 1 else (probabilities <= high))
        assert row["centre"] == pytest.approx(probabilities[inside].mean()) and row["frames"] == inside.sum()
    lowest = probabilities < 0.3
    assert realistic["accuracy_vs_probability"].get("0-0.3", {"frames": 0})["frames"] == lowest.sum()
    if lowest.any():
        assert realistic["accuracy_vs_probability"]["0-0.3"]["accuracy"] == pytest.approx(100 * correct[lowest].mean(), abs=0.01)
    labelled = [r for r in lattice if not r["error"]]
    confidence = np.array([max(r["probabilities"]) for r in labelled])
    assert np.array([r["probability"] for r in labelled]) == pytest.approx(confidence)
    right = np.array([r["label"] == r["kind"] for r in labelled])
    bins = np.minimum((confidence * 15).astype(int), 14)  # 15 equal bins: sum of |accuracy - confidence| by share
    expected = sum(np.mean(bins == b) * abs(right[bins == b].mean() - confidence[bins == b].mean()) for b in np.unique(bins))
    assert realistic["calibration_error"] == pytest.approx(100 * expected, abs=0.01)
    assert realistic["ensemble_temperature"] == 1.0
    on_grains = [r["label"] == r["kind"] for r in lattice if holds_3d_lattice(r)]
    subset = realistic["on_3d_grains"]
    assert (subset is None) == (not on_grains)
    if on_grains:
        assert subset["frame_counts"]["superlattice"] == len(on_grains)
        assert subset["accuracy"] == pytest.approx(100 * np.mean(on_grains), abs=0.01)
    for d, row in realistic["accuracy_vs_lattice_nm"].items():
        chosen = [r["label"] == r["kind"] for r in lattice if f"{r['nn_distance_nm']:g}" == d]
        assert row["frames"] == len(chosen) and row["accuracy"] == pytest.approx(100 * np.mean(chosen), abs=0.01)


def test_confusion_counts_and_refusals_add_up_to_the_frames_of_each_class(evaluated):
    _, metrics = evaluated
    realistic = metrics["realistic"]
    counts = np.array(realistic["confusion_counts"])
    refused = np.array([realistic["refused_per_class"][name] for name in CLASS_NAMES])
    np.testing.assert_array_equal(counts.sum(axis=0) + refused, len(LATTICE_CONSTANTS_NM) * PER_CLASS)
    lattice = [r for r in realistic["frames"] if r["kind"] in CLASS_NAMES]
    expected = np.zeros_like(counts)
    for r in lattice:
        if not r["error"]:
            expected[CLASS_NAMES.index(r["label"]), CLASS_NAMES.index(r["kind"])] += 1
    np.testing.assert_array_equal(counts, expected)
    answered = counts.sum(axis=0)
    fractions = np.divide(counts, answered, out=np.zeros(counts.shape), where=answered > 0)
    np.testing.assert_allclose(realistic["confusion_matrix"], fractions, atol=1e-4)
    recall = np.diag(counts) / len(LATTICE_CONSTANTS_NM)  # refused frames count as missed
    np.testing.assert_allclose([realistic["recall"][name] for name in CLASS_NAMES], recall)
    assert realistic["hcp_recall"] == realistic["recall"]["HCP0001"]


def test_hcp_recall_per_lattice_constant_and_goals_match_the_records(evaluated):
    _, metrics = evaluated
    realistic = metrics["realistic"]
    goals = {row["goal"]: row for row in realistic["goals"]}
    for d, recall in realistic["recall_vs_lattice_nm"].items():
        hcp = [r["label"] == "HCP0001" for r in realistic["frames"] if r["kind"] == "HCP0001" and f"{r['nn_distance_nm']:g}" == d]
        assert recall["HCP0001"] == pytest.approx(np.mean(hcp))
        row = goals[f"HCP0001 recall at {d} nm"]
        assert row["target"] == 95.0 and row["measured"] == pytest.approx(100 * np.mean(hcp), abs=0.01)
        assert row["met"] == (row["measured"] >= 95.0)
    assert goals["overall accuracy"]["measured"] == realistic["accuracy"] and goals["overall accuracy"]["target"] == 95.0
    for kind in OOD_FILMS:
        row = goals[f"{kind} films flagged at 5 % false alarms"]
        assert row["target"] == 90.0 and row["measured"] == pytest.approx(100 * realistic["ood"][kind]["detection"], abs=0.01)


def test_ood_detection_flags_scores_above_the_superlattice_quantile(evaluated):
    _, metrics = evaluated
    frames = metrics["realistic"]["frames"]
    scores = [r["ood_score"] for r in frames if r["kind"] in CLASS_NAMES and not r["error"]]
    assert scores and all(np.isfinite(scores))  # the bundle holds OOD statistics: every answered frame has a score
    threshold = np.quantile(scores, 0.95)
    for kind in OOD_FILMS:
        flagged = [bool(r["error"]) or r["ood_score"] > threshold for r in frames if r["kind"] == kind]
        result = metrics["realistic"]["ood"][kind]
        assert result["threshold"] == pytest.approx(threshold)
        assert result["detection"] == pytest.approx(np.mean(flagged))


def test_window_scales_and_the_fold_are_recorded_per_frame_and_in_the_report(evaluated):
    report, metrics = evaluated
    realistic = metrics["realistic"]
    answered = [r for r in realistic["frames"] if not r["error"]]
    assert realistic["fold"] is True and answered and all(r["folded"] for r in answered)
    text = (report / "report.md").read_text()
    assert "classified through `gisaxs-cnn classify FILE --window-scale ensemble`." in text
    assert "--window-scale ensemble --no-fold`" in markdown_tables({**realistic, "fold": False})
    for d, scales in realistic["window_scale_vs_lattice_nm"].items():
        assert len(scales) == len(CLASS_NAMES) * PER_CLASS
        finite = [s for s in scales if s is not None]
        assert all(SCALE_RANGE[0] <= s <= SCALE_RANGE[1] for s in finite), d


def test_report_has_the_realistic_section_plots_and_summary_beside_the_clean_figures(evaluated):
    report, metrics = evaluated
    text = (report / "report.md").read_text()
    realistic = metrics["realistic"]
    summary = text[text.index("## Summary"):text.index("## Table II")]
    assert f"| accuracy (%) | {metrics['robust_model_test']['clean']:.1f} | {realistic['accuracy']:.1f} | >= 95 |" in summary
    assert f"| HCP0001 recall (%) | {100 * metrics['recall']['HCP0001']:.1f} | {100 * realistic['hcp_recall']:.1f} " in summary
    assert "OOD detection at 5% false alarms" in summary
    section = text[text.index("## Realistic detector frames"):]
    for heading in ("### Goals of the issue", "### Accuracy vs lattice constant", "### Accuracy vs masked fraction",
                    "### Accuracy vs total counts", "### Accuracy vs incidence angle", "### Accuracy vs grain width",
                    "### Accuracy vs grain height", "### Accuracy vs probability of the label",
                    "### Confusion matrix and recall per class", "### Window scales chosen"):
        assert heading in section
    assert "| grain width (unit cells) | accuracy (%) | frames |" in section
    assert len(realistic["plots"]) == 9
    for name in realistic["plots"]:
        assert f"]({name})" in section and (report / name).stat().st_size > 1000
    assert "| 150 |" in section and "| **HCP0001** |" in section
    assert f"| overall accuracy | >= 95 | {realistic['accuracy']:.1f} |" in section
    assert (f"Expected calibration error of the labels' probabilities {realistic['calibration_error']:.1f} % over the "
            "labelled superlattice frames (15 bins; ensemble temperature 1, ") in section


def test_without_realistic_frames_the_summary_says_how_to_add_them(evaluated):
    _, metrics = evaluated
    clean_only = {key: value for key, value in metrics.items() if key != "realistic"}
    text = markdown_report(clean_only)
    assert "## Realistic detector frames" not in text and "--realistic N" in text


def test_help_states_the_cost_and_bad_values_are_named(capsys, untrained_bundle, tmp_path):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--help"])
    assert "s of one CPU core per Pilatus 1M frame" in " ".join(capsys.readouterr().out.split())
    assert main(["evaluate", "--model", str(untrained_bundle), "--output", str(tmp_path), "--realistic", "-1"]) == 2
    assert "--realistic must be >= 0, got -1" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(untrained_bundle), "--output", str(tmp_path), "--realistic", "1",
                 "--realistic-detector", "eiger"]) == 2
    assert "--realistic-detector must be one of pilatus-1m, pilatus-2m, small, got 'eiger'" in capsys.readouterr().err
