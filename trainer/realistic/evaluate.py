"""Accuracy through the user's file path on realistic detector frames.

Every frame is made by :func:`.frames.realistic_frame`, written to a detector file
(TIFF, EDF, CBF or NeXus in turn) and classified by
:func:`xicam_gisaxs_cnn.cli.classify.classify_file`, the function behind
``gisaxs-cnn classify FILE --beam-stop-px ...``: header parsing, geometry,
window-scale choice, resampling, masking and the model, exactly as for a user.

Reported (:func:`realistic_evaluation`): accuracy overall and against lattice
constant, masked fraction of the canonical grid, total counts, incidence angle and
the film's grain width and height in unit cells;
the confusion matrix and per-class recall (HCP among them), also per lattice
constant; the window scales chosen; the detection of films of no class (disordered
films, empty frames, 2-D monolayers) at 5 % false alarms among the superlattice
frames; and the issue's goals beside the measured values. A frame that fails (an
error record instead of a label) counts as wrong for accuracy and as flagged for
detection. :func:`markdown_tables` renders it all as the report's section.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from xicam_gisaxs_cnn.classes import CLASS_NAMES, NUM_CLASSES, class_index  # noqa: E402
from xicam_gisaxs_cnn.cli.classify import classify_file  # noqa: E402
from xicam_gisaxs_cnn.frames import FrameResult  # noqa: E402
from xicam_gisaxs_cnn.frames.fold import FOLD_QY  # noqa: E402

from ..evaluation import plots  # noqa: E402
from ..evaluation.metrics import (  # noqa: E402
    bin_members, confusion_matrix, detection_rate_at_false_alarm, percent, reliability,
)
from .frames import PILATUS_1M, PILATUS_2M, SMALL_DETECTOR, DetectorLayout, realistic_frame, write_realistic_frame  # noqa: E402

LATTICE_CONSTANTS_NM: tuple[float, ...] = (10.0, 20.0, 50.0, 100.0, 150.0)
"""Nearest-neighbour distances the accuracy is reported at, nm."""

OOD_FILMS: tuple[str, ...] = ("disordered", "empty", "monolayer")
"""Films of no superlattice class that should be flagged out of distribution."""

SUFFIXES: tuple[str, ...] = (".tif", ".edf", ".cbf", ".h5")
"""File formats the frames are written in, in turn."""

COUNT_BINS: tuple[float, ...] = (1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
"""Bin edges of the photons counted in a frame: 1e2-1e7 are drawn, the gaps and the beam stop take some, Poisson adds."""

MASKED_BINS: tuple[float, ...] = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)
"""Bin edges of the masked fraction of the canonical grid (refused frames count as 1)."""

INCIDENCE_BINS_DEG: tuple[float, ...] = (0.08, 0.15, 0.25, 0.35, 0.5)
"""Bin edges of the incidence angle, degrees (frames draw 0.08-0.5)."""

LATERAL_CELL_BINS: tuple[float, ...] = (1, 2, 3, 10, 50, 200)
"""Bin edges of a grain's width in unit cells (``repetitions_lateral``, 1-200 drawn); "1-2" holds the films one cell wide."""

VERTICAL_CELL_BINS: tuple[float, ...] = (1, 2, 3, 5, 10, 20)
"""Bin edges of a grain's height in unit cells (``repetitions_vertical``, 1-20 drawn)."""

PROBABILITY_BINS: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
"""Bin edges of the reported probability of the predicted class (refused frames count as 0); the
table says how often each bin is right. With ``--window-scale ensemble`` the probabilities are
averaged over about 20 scales, then sharpened by the bundle's ensemble temperature (see
:func:`xicam_gisaxs_cnn.frames.scale.tempered`); untempered, most would fall below 0.5."""

SWEPT: tuple[tuple[str, str, str, bool], ...] = (
    ("accuracy_vs_lattice_nm", "lattice constant", "nearest-neighbour distance (nm)", True),
    ("accuracy_vs_masked_fraction", "masked fraction", "masked fraction of the canonical grid", False),
    ("accuracy_vs_total_counts", "total counts", "total counts", True),
    ("accuracy_vs_incidence_deg", "incidence angle", "incidence angle (deg)", False),
    ("accuracy_vs_lateral_cells", "grain width", "grain width (unit cells)", True),
    ("accuracy_vs_vertical_cells", "grain height", "grain height (unit cells)", True),
    ("accuracy_vs_probability", "probability of the label", "probability of the predicted class", False),
)
"""Accuracy tables: metrics key, title, axis label, logarithmic axis."""

TABLE_UNITS: dict[str, str] = {"accuracy_vs_lattice_nm": " (nm)", "accuracy_vs_incidence_deg": " (deg)",
                               "accuracy_vs_lateral_cells": " (unit cells)", "accuracy_vs_vertical_cells": " (unit cells)"}
"""Unit after the title in each accuracy table's first column (none for fractions and counts)."""

DETECTORS: dict[str, DetectorLayout] = {"pilatus-1m": PILATUS_1M, "pilatus-2m": PILATUS_2M, "small": SMALL_DETECTOR}
"""Detector layouts by the name ``gisaxs-cnn evaluate --realistic-detector`` takes."""

MIN_GRAIN_CELLS: tuple[int, int] = (3, 2)
"""Width and height, unit cells, of a superlattice grain that holds a 3-D lattice. One or two
cells wide, a grain's in-plane rods are half a Brillouin zone wide or wider; one cell high, an
SC100 grain is a square monolayer, a film of no class."""

MIN_FRAME_COUNTS: float = 1e3
"""Photons in a frame (its records' ``total_counts``, the sum of its positive pixels) for it to count
among the frames that hold a lattice."""

FALSE_ALARM: float = 0.05
"""Fraction of superlattice frames flagged out of distribution at the OOD threshold."""

GOAL_ACCURACY_PERCENT: float = 95.0
"""Issue goal: overall accuracy on realistic frames, %."""

GOAL_HCP_RECALL_PERCENT: float = 95.0
"""Issue goal: HCP0001 recall at every lattice constant, %."""

GOAL_OOD_DETECTION_PERCENT: float = 90.0
"""Issue goal: detection of each film of no class at :data:`FALSE_ALARM`, %."""


def superlattice_jobs(lattice_constants_nm: tuple[float, ...], per_class: int) -> list[tuple[str, float]]:
    """(class, nearest-neighbour distance in nm) of each superlattice frame, in the order their seeds follow."""
    return [(kind, d) for d in lattice_constants_nm for kind in CLASS_NAMES for _ in range(per_class)]


def frame_path(folder: Path, index: int, kind: str, nn_distance_nm: float) -> Path:
    """File of frame ``index``: its kind and lattice constant in the name, the formats of :data:`SUFFIXES` in turn."""
    return folder / f"{index:04d}_{kind}_{nn_distance_nm:g}nm{SUFFIXES[index % len(SUFFIXES)]}"


def classify_realistic(frame, path: Path, *, classifier, window_scale: float | str = "auto",
                       fold: bool = FOLD_QY) -> dict:
    """Write one realistic frame to ``path`` and classify the file as ``gisaxs-cnn classify`` does.

    Returns a record: true kind, lattice constant, grain width and height in unit cells
    (None for films without), geometry values, counts, and the result's label,
    probability, class probabilities, OOD score and flag, valid fraction, window scale, fold and error.
    """
    write_realistic_frame(path, frame)
    try:
        result = classify_file(path, classifier=classifier, overrides={}, window_scale=window_scale,
                               beam_stop_px=frame.beam_stop_px, fold=fold)[0]
    except (ValueError, OSError) as error:  # what the CLI turns into an error line
        result = FrameResult(str(path), window_scale=float("nan"), error=str(error))
    return {
        "kind": frame.label,
        "nn_distance_nm": frame.nn_distance_nm,
        "repetitions_lateral": frame.film_parameters.get("repetitions_lateral"),
        "repetitions_vertical": frame.film_parameters.get("repetitions_vertical"),
        "incidence_angle_deg": frame.geometry.incidence_angle_deg,
        "energy_kev": frame.geometry.energy_kev,
        "distance_mm": frame.geometry.distance_mm,
        "total_counts": float(frame.counts[frame.counts > 0].sum()),
        "label": result.label,
        "probability": float(np.max(result.probabilities)) if not result.error else float("nan"),
        "probabilities": None if result.error else [float(p) for p in result.probabilities],
        "ood_score": result.ood_score,
        "ood_flag": result.ood_flag,
        "valid_fraction": result.valid_fraction,
        "window_scale": result.window_scale,
        "folded": result.folded,
        "error": result.error,
        "file": Path(path).name,
    }


def realistic_evaluation(
    classifier,
    out_dir: str | Path,
    *,
    per_class: int = 2,
    ood_per_kind: int = 5,
    seed: int = 8080,
    layout: DetectorLayout = PILATUS_1M,
    lattice_constants_nm: tuple[float, ...] = LATTICE_CONSTANTS_NM,
    window_scale: float | str = "ensemble",
    fold: bool = FOLD_QY,
    keep_frames: bool = False,
) -> dict:
    """Evaluate ``classifier`` on realistic frames through the file path; write PNG plots into ``out_dir``.

    Parameters
    ----------
    classifier : xicam_gisaxs_cnn.models.Classifier
        The model under test.
    out_dir : path-like
        Folder for the plots (and the frames with ``keep_frames``).
    per_class : int
        Frames of every class at every lattice constant.
    ood_per_kind : int
        Frames of every film in :data:`OOD_FILMS` (lattice constants in turn).
    seed : int
        Frame ``i`` uses seed ``seed + i``.
    layout : DetectorLayout
        Detector (Pilatus 1M by default; a small one for tests).
    lattice_constants_nm : tuple of float
        Nearest-neighbour distances, nm.
    window_scale : float, "auto", "confidence" or "ensemble"
        Passed to the classification as ``--window-scale``.
    fold : bool
        Fold the frames about qy = 0 (``gisaxs-cnn classify`` does unless ``--no-fold``).
    keep_frames : bool
        Keep the written frames under ``out_dir/frames``.

    Returns
    -------
    dict
        ``frames`` (one record each), ``accuracy`` (%), ``accuracy_vs_lattice_nm``,
        ``accuracy_vs_masked_fraction``, ``accuracy_vs_total_counts``,
        ``accuracy_vs_incidence_deg``, ``accuracy_vs_lateral_cells``,
        ``accuracy_vs_vertical_cells``, ``accuracy_vs_probability`` (bin label -> {"accuracy", "frames"}),
        ``confusion_matrix`` (M_ij: fraction of true class j predicted as i, refused
        frames left out), ``confusion_counts`` (frames of true class j predicted as i),
        ``refused_per_class``, ``recall``, ``hcp_recall`` (fractions),
        ``recall_vs_lattice_nm`` (lattice constant -> class -> recall), ``errors``,
        ``window_scale_vs_lattice_nm``, ``ood`` (kind -> detection rate at 5 % false
        alarms), ``goals`` (the issue's goals beside the measured values, %),
        ``calibration_error`` (expected calibration error, %, of the labelled superlattice frames),
        ``detector``, ``per_class``, ``ood_per_kind``, ``seed``, ``window_scale``, ``fold``,
        ``ensemble_temperature`` (the classifier's) and ``plots`` (file names).
    """
    if per_class < 1 or ood_per_kind < 0:
        raise ValueError(f"per_class must be >= 1 and ood_per_kind >= 0, got {per_class} and {ood_per_kind}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = superlattice_jobs(lattice_constants_nm, per_class)
    jobs += [(kind, lattice_constants_nm[i % len(lattice_constants_nm)]) for kind in OOD_FILMS for i in range(ood_per_kind)]
    with tempfile.TemporaryDirectory() as scratch:
        folder = out / "frames" if keep_frames else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        records = []
        for index, (kind, d) in enumerate(jobs):
            frame = realistic_frame(kind, nn_distance_nm=d, seed=seed + index, layout=layout)
            records.append(classify_realistic(frame, frame_path(folder, index, kind, d), classifier=classifier,
                                              window_scale=window_scale, fold=fold))
    metrics = summarise(records)
    metrics.update(detector=layout.name, per_class=per_class, ood_per_kind=ood_per_kind, seed=seed,
                   window_scale=window_scale, fold=fold, ensemble_temperature=classifier.ensemble_temperature)
    metrics["plots"] = write_plots(metrics, out)
    return metrics


def holds_3d_lattice(record: dict) -> bool:
    """Whether a record's frame has :data:`MIN_FRAME_COUNTS` photons and, for a superlattice,
    a grain of :data:`MIN_GRAIN_CELLS` (width, height) or more."""
    if record["total_counts"] < MIN_FRAME_COUNTS:
        return False
    return record["kind"] not in CLASS_NAMES or (record["repetitions_lateral"] >= MIN_GRAIN_CELLS[0]
                                                 and record["repetitions_vertical"] >= MIN_GRAIN_CELLS[1])


def summarise(records: list[dict]) -> dict:
    """Accuracy tables, confusion matrix, recall and OOD detection from classification records.

    ``on_3d_grains`` holds :func:`goal_metrics` again on the frames that :func:`holds_3d_lattice`,
    with their ``frame_counts`` per kind (None when no superlattice frame does).
    """
    metrics = {"frames": records, **goal_metrics(records)}
    lattice = [r for r in records if r["kind"] in CLASS_NAMES]
    truth, predicted = _outcomes(lattice)
    correct = predicted == truth
    masked = np.array([1.0 - r["valid_fraction"] for r in lattice])
    counts = np.array([r["total_counts"] for r in lattice])
    incidence = np.array([r["incidence_angle_deg"] for r in lattice])
    distances = np.array([r["nn_distance_nm"] for r in lattice])
    lateral = np.array([r["repetitions_lateral"] for r in lattice], dtype=float)
    vertical = np.array([r["repetitions_vertical"] for r in lattice], dtype=float)
    probability = np.array([0.0 if r["error"] else r["probability"] for r in lattice])
    answered = predicted >= 0
    labelled = [r for r in lattice if not r["error"]]
    metrics["calibration_error"] = percent(reliability(np.array([r["probabilities"] for r in labelled]),
                                                       truth[answered])["ece"]) if labelled else None
    matrix = confusion_matrix(predicted[answered], truth[answered]) if answered.any() else np.zeros((NUM_CLASSES, NUM_CLASSES))
    counted = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=int)
    np.add.at(counted, (predicted[answered], truth[answered]), 1)
    metrics.update({
        "errors": int(np.sum(~answered)),
        "accuracy_vs_lattice_nm": accuracy_table(correct, distances, None),
        "accuracy_vs_masked_fraction": accuracy_table(correct, masked, MASKED_BINS),
        "accuracy_vs_total_counts": accuracy_table(correct, counts, COUNT_BINS),
        "accuracy_vs_incidence_deg": accuracy_table(correct, incidence, INCIDENCE_BINS_DEG),
        "accuracy_vs_lateral_cells": accuracy_table(correct, lateral, LATERAL_CELL_BINS),
        "accuracy_vs_vertical_cells": accuracy_table(correct, vertical, VERTICAL_CELL_BINS),
        "accuracy_vs_probability": accuracy_table(correct, probability, PROBABILITY_BINS, mean_centres=True),
        "confusion_matrix": matrix.round(4).tolist(),
        "confusion_counts": counted.tolist(),
        "refused_per_class": {name: int(np.sum(~answered & (truth == i))) for i, name in enumerate(CLASS_NAMES)},
        "window_scale_vs_lattice_nm": {
            f"{d:g}": [r["window_scale"] for r in lattice if r["nn_distance_nm"] == d] for d in np.unique(distances)},
    })
    chosen = [r for r in records if holds_3d_lattice(r)]
    frame_counts = {"superlattice": sum(r["kind"] in CLASS_NAMES for r in chosen),
                    **{kind: sum(r["kind"] == kind for r in chosen) for kind in OOD_FILMS}}
    metrics["on_3d_grains"] = {"frame_counts": frame_counts, **goal_metrics(chosen)} if frame_counts["superlattice"] else None
    return metrics


def goal_metrics(records: list[dict]) -> dict:
    """Accuracy (%), recall per class and per lattice constant, OOD detection and :func:`goals` of records."""
    lattice = [r for r in records if r["kind"] in CLASS_NAMES]
    if not lattice:
        raise ValueError("records hold no superlattice frame")
    truth, predicted = _outcomes(lattice)
    correct = predicted == truth
    distances = np.array([r["nn_distance_nm"] for r in lattice])
    recall = recall_per_class(correct, truth)
    metrics = {
        "accuracy": percent(np.mean(correct)),
        "recall": recall,
        "hcp_recall": recall["HCP0001"],
        "recall_vs_lattice_nm": {f"{d:g}": recall_per_class(correct[distances == d], truth[distances == d])
                                 for d in np.unique(distances)},
    }
    in_scores = np.array([_score(r) for r in lattice])
    metrics["ood"] = {}
    for kind in OOD_FILMS:
        outside = np.array([_score(r) for r in records if r["kind"] == kind])
        if outside.size:
            finite = np.isfinite(in_scores)
            metrics["ood"][kind] = detection_rate_at_false_alarm(in_scores[finite] if finite.any() else np.zeros(1),
                                                                 outside, FALSE_ALARM)
    metrics["goals"] = goals(metrics)
    return metrics


def goals(metrics: dict) -> list[dict]:
    """The issue's goals beside the measured values (%): overall accuracy, HCP0001 recall per lattice constant, OOD detection.

    Each row: ``goal`` (text), ``target`` and ``measured`` (%), ``met`` (bool; False when not measured).
    """
    rows = [("overall accuracy", GOAL_ACCURACY_PERCENT, metrics["accuracy"])]
    rows += [(f"HCP0001 recall at {d} nm", GOAL_HCP_RECALL_PERCENT, percent(recall["HCP0001"]))
             for d, recall in metrics["recall_vs_lattice_nm"].items()]
    rows += [(f"{kind} films flagged at {100 * FALSE_ALARM:g} % false alarms", GOAL_OOD_DETECTION_PERCENT,
              percent(metrics["ood"][kind]["detection"]) if kind in metrics["ood"] else float("nan"))
             for kind in OOD_FILMS]
    return [{"goal": name, "target": target, "measured": measured, "met": bool(measured >= target)}
            for name, target, measured in rows]


def write_plots(metrics: dict, out: Path) -> list[str]:
    """Accuracy against each swept quantity, the confusion matrix and the OOD scores as PNGs; their file names.

    The lattice-constant plot also shows the HCP0001 recall per lattice constant.
    """
    names = []
    for key, _, label, log in SWEPT:
        table = metrics[key]
        figure, axis = plt.subplots(figsize=(4.5, 3.6))
        centres = [row["centre"] for row in table.values()]
        axis.plot(centres, [row["accuracy"] for row in table.values()], "o-", label="accuracy")
        if key == "accuracy_vs_lattice_nm":
            axis.plot(centres, [100 * metrics["recall_vs_lattice_nm"][d]["HCP0001"] for d in table], "s--",
                      label="HCP0001 recall")
            axis.legend(fontsize=7)
        if key == "accuracy_vs_probability":  # a reliability diagram: calibrated probabilities lie on the diagonal
            axis.plot([0, 1], [0, 100], ":", color="grey", label="accuracy = probability")
            axis.legend(fontsize=7)
        if log:
            axis.set_xscale("log")
        axis.set_xlabel(label)
        axis.set_ylabel("accuracy, HCP0001 recall (%)" if key == "accuracy_vs_lattice_nm" else "accuracy (%)")
        axis.set_ylim(-2, 102)
        axis.grid(alpha=0.3)
        plots._save(figure, out / _plot_name(key))
        names.append(_plot_name(key))
    plots.confusion(np.asarray(metrics["confusion_matrix"]), out / _plot_name("confusion_matrix"))
    names.append(_plot_name("confusion_matrix"))
    figure, axis = plt.subplots(figsize=(4.5, 3.6))
    groups = {"superlattice": [r for r in metrics["frames"] if r["kind"] in CLASS_NAMES]}
    groups.update({kind: [r for r in metrics["frames"] if r["kind"] == kind] for kind in OOD_FILMS})
    plotted = False
    for kind, rows in groups.items():
        scores = [r["ood_score"] for r in rows if np.isfinite(r["ood_score"])]
        if scores:
            axis.hist(scores, bins=20, alpha=0.5, label=kind)
            plotted = True
    axis.set_xlabel("OOD score")
    axis.set_ylabel("frames")
    if plotted:
        axis.legend(fontsize=7)
    plots._save(figure, out / _plot_name("ood_scores"))
    names.append(_plot_name("ood_scores"))
    return names


def markdown_tables(metrics: dict) -> str:
    """The section "Realistic detector frames" of the evaluation report, as markdown.

    Goals beside the measured values, accuracy against each swept quantity (with its
    plot), the confusion counts and per-class recall (HCP0001 in bold), recall per
    class and lattice constant, the window scales chosen and the OOD detection.
    Plots are linked by file name, so the report must sit in the folder holding them.
    """
    lattice_frames = sum(row["frames"] for row in metrics["accuracy_vs_lattice_nm"].values())
    lines = ["## Realistic detector frames", "",
             f"{len(metrics['frames'])} frames on a {metrics['detector']} ({metrics['per_class']} per class and lattice "
             f"constant, {metrics['ood_per_kind']} of each film of no class; seed {metrics['seed']}), each written to a "
             "detector file (TIFF, EDF, CBF, NeXus in turn) and classified through `gisaxs-cnn classify FILE "
             f"--window-scale {metrics.get('window_scale', 'auto')}"
             f"{'' if metrics.get('fold', False) else ' --no-fold'}`.", "",
             f"Accuracy **{metrics['accuracy']:.1f} %** over {lattice_frames} superlattice frames "
             f"({metrics['errors']} refused, counted wrong); HCP0001 recall **{100 * metrics['hcp_recall']:.1f} %**.", ""]
    if metrics.get("calibration_error") is not None:
        lines += [f"Expected calibration error of the labels' probabilities {metrics['calibration_error']:.1f} % over "
                  f"the labelled superlattice frames (15 bins; ensemble temperature "
                  f"{metrics.get('ensemble_temperature', 1.0):.3g}, see `gisaxs-cnn fit-ood-threshold`).", ""]
    lines += ["### Goals of the issue", ""]
    lines += _goal_lines(metrics)
    for key, title, _, _ in SWEPT:
        unit = TABLE_UNITS.get(key, "")
        lines += ["", f"### Accuracy vs {title}", "", f"![accuracy vs {title}]({_plot_name(key)})", ""]
        if key == "accuracy_vs_lattice_nm":
            lines += [f"| {title}{unit} | accuracy (%) | frames | HCP0001 recall (%) |", "|---|---|---|---|"]
            lines += [f"| {name} | {row['accuracy']:.1f} | {row['frames']} | "
                      f"{_cell(100 * metrics['recall_vs_lattice_nm'][name]['HCP0001'])} |"
                      for name, row in metrics[key].items()]
        else:
            lines += [f"| {title}{unit} | accuracy (%) | frames |", "|---|---|---|"]
            lines += [f"| {name} | {row['accuracy']:.1f} | {row['frames']} |" for name, row in metrics[key].items()]
    lines += ["", "### Confusion matrix and recall per class", "",
              f"![confusion matrix]({_plot_name('confusion_matrix')})", "",
              "Frames of each true class (rows) by predicted class (columns); refused frames apart.", "",
              f"| true class | {' | '.join(CLASS_NAMES)} | refused | recall (%) |", "|---" * (NUM_CLASSES + 3) + "|"]
    counts = np.asarray(metrics["confusion_counts"])
    for j, name in enumerate(CLASS_NAMES):
        cells = [_bold(name, name), *[str(c) for c in counts[:, j]], str(metrics["refused_per_class"][name]),
                 _bold(_cell(100 * metrics["recall"][name]), name)]
        lines.append(f"| {' | '.join(cells)} |")
    lines += ["", "### Recall per class and lattice constant (%)", "",
              f"| lattice constant (nm) | {' | '.join(_bold(name, name) for name in CLASS_NAMES)} |", "|---" * (NUM_CLASSES + 1) + "|"]
    lines += [f"| {d} | {' | '.join(_bold(_cell(100 * recall[name]), name) for name in CLASS_NAMES)} |"
              for d, recall in metrics["recall_vs_lattice_nm"].items()]
    lines += ["", "### Window scales chosen", "", "| lattice constant (nm) | median | min | max | frames scaled |",
              "|---|---|---|---|---|"]
    for d, scales in metrics["window_scale_vs_lattice_nm"].items():
        finite = np.asarray([s for s in scales if np.isfinite(s)])
        summary = [f"{np.median(finite):.2f}", f"{finite.min():.2f}", f"{finite.max():.2f}"] if finite.size else ["-"] * 3
        lines.append(f"| {d} | {' | '.join(summary)} | {finite.size} of {len(scales)} |")
    lines += ["", f"### Films of no class flagged out of distribution at {100 * FALSE_ALARM:g} % false alarms", "",
              f"![OOD scores]({_plot_name('ood_scores')})", "",
              "| film | frames | detection (%) | OOD threshold |", "|---|---|---|---|"]
    for kind, value in metrics["ood"].items():
        frames = sum(r["kind"] == kind for r in metrics["frames"])
        lines.append(f"| {kind} | {frames} | {100 * value['detection']:.1f} | {value['threshold']:.4g} |")
    return "\n".join(lines) + "\n"


def _goal_lines(metrics: dict) -> list[str]:
    """The goals table: measured on every frame and, beside it, on the frames that hold a 3-D lattice."""
    subset = metrics.get("on_3d_grains")
    if subset is None:
        return ["| goal | target (%) | measured (%) | met |", "|---|---|---|---|",
                *[f"| {row['goal']} | >= {row['target']:g} | {_cell(row['measured'])} | {_met(row)} |"
                  for row in metrics["goals"]]]
    on_grains = {row["goal"]: row for row in subset["goals"]}
    frame_counts = subset["frame_counts"]
    lines = [f"Beside every frame, the frames that hold a 3-D lattice: superlattice grains at least "
             f"{MIN_GRAIN_CELLS[0]} unit cells wide and {MIN_GRAIN_CELLS[1]} high, every frame with at least "
             f"{MIN_FRAME_COUNTS:g} photons ({frame_counts['superlattice']} superlattice frames; "
             + ", ".join(f"{frame_counts[kind]} {kind}" for kind in OOD_FILMS)
             + f"; their own {100 * FALSE_ALARM:g} % false-alarm threshold).", "",
             f"| goal | target (%) | every frame (%) | met | 3-D grains, >= {MIN_FRAME_COUNTS:g} photons (%) | met |", "|---|---|---|---|---|---|"]
    for row in metrics["goals"]:
        other = on_grains.get(row["goal"])
        cells = [_cell(other["measured"]), _met(other)] if other else ["-", "-"]
        lines.append(f"| {row['goal']} | >= {row['target']:g} | {_cell(row['measured'])} | {_met(row)} | {' | '.join(cells)} |")
    return lines


def _met(row: dict) -> str:
    return "yes" if row["met"] else "**no**"


def _plot_name(key: str) -> str:
    return f"realistic_{key}.png"


def _cell(value: float | None) -> str:
    """A percentage for a table; "-" where not measured (NaN, or None as metrics.json writes NaN)."""
    return f"{value:.1f}" if value is not None and np.isfinite(value) else "-"


def _bold(text: str, name: str) -> str:
    """``text`` in bold when ``name`` is HCP0001 (the class the paper's model never recognised)."""
    return f"**{text}**" if name == "HCP0001" else text


def _outcomes(lattice: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted class indices of superlattice records (-1 where the frame was refused)."""
    return (np.array([class_index(r["kind"]) for r in lattice]),
            np.array([class_index(r["label"]) if r["label"] else -1 for r in lattice]))


def recall_per_class(correct: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Fraction of the frames of each class labelled correctly (NaN for a class with no frame)."""
    return {name: float(np.mean(correct[truth == i])) if np.any(truth == i) else float("nan")
            for i, name in enumerate(CLASS_NAMES)}


def _score(record: dict) -> float:
    """OOD score of a record; an error (no label) counts as flagged."""
    return float("inf") if record["error"] else float(record["ood_score"])


def accuracy_table(correct: np.ndarray, values: np.ndarray, edges: tuple[float, ...] | None, *, mean_centres: bool = False) -> dict:
    """Accuracy (%) per distinct value (``edges`` None) or per bin ``[edges[i], edges[i+1])``; empty bins left out.

    A bin's ``centre`` is its geometric centre, or with ``mean_centres`` the mean of its values."""
    table = {}
    if edges is None:
        for value in np.unique(values):
            chosen = values == value
            table[f"{value:g}"] = {"centre": float(value), "accuracy": percent(np.mean(correct[chosen])),
                                   "frames": int(chosen.sum())}
        return table
    for low, high, chosen in zip(edges[:-1], edges[1:], bin_members(values, edges)):
        if chosen.any():
            centre = np.mean(values[chosen]) if mean_centres else np.sqrt(low * high) if low > 0 else high / 2
            table[f"{low:g}-{high:g}"] = {"centre": float(centre),
                                          "accuracy": percent(np.mean(correct[chosen])), "frames": int(chosen.sum())}
    return table
