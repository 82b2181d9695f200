"""``gisaxs-cnn evaluate``: reproduce the paper's tables and figures on a held-out simulated set.

Outputs into one folder: ``metrics.json``, PNG plots and ``report.md`` with the
paper's numbers side by side; optionally (``realistic_per_class`` > 0) the
realistic-detector-frame evaluation of :mod:`..realistic.evaluate` as well, with a
summary table of clean-simulation and realistic figures at the top of the report.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xicam_gisaxs_cnn.canonical import horizon_mask
from xicam_gisaxs_cnn.classes import CLASS_NAMES, NUM_CLASSES
from xicam_gisaxs_cnn.models import Classifier
from xicam_gisaxs_cnn.models.test_time import NO_SMEAR_PX, check_smear_views, view_label, views_record

from ..degradation import Degradation
from ..realistic.evaluate import (
    GOAL_ACCURACY_PERCENT, GOAL_HCP_RECALL_PERCENT, GOAL_OOD_DETECTION_PERCENT, LATTICE_CONSTANTS_NM, markdown_tables,
    realistic_evaluation,
)
from ..realistic.frames import PILATUS_1M, DetectorLayout
from ..simulation import SimulationConfig, sample_parameters, simulate
from . import paper, plots
from .metrics import (accuracy, bin_members, confusion_matrix, detection_rate_at_false_alarm, explained_variance_ratio, percent,
                      recall_per_class, reliability)
from .ood import OOD_KINDS, ood_patterns

REPETITIONS: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200)

LATTICE_BINS: int = 5
"""Equal bins of the training range of nearest-neighbour distance that Table III is also split into."""


@dataclass
class TestSet:
    """Clean canonical patterns (N, 1, 125, 125) float64, their labels and sampled parameters."""

    images: torch.Tensor
    labels: torch.Tensor
    params: dict


def simulate_test_set(per_class: int, *, seed: int, config: SimulationConfig | None = None,
                      overrides: dict | None = None, chunk: int = 256, device: str = "cpu") -> TestSet:
    """``per_class`` fresh patterns of every class from ``seed`` (disjoint from training seeds).

    Simulated on ``device``; the images are returned on the CPU.
    """
    config = config or SimulationConfig()
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(NUM_CLASSES).repeat(per_class)
    images, params = [], []
    for start in range(0, labels.numel(), chunk):
        sampled = sample_parameters(labels[start:start + chunk], config, generator, overrides=overrides)
        images.append(simulate(sampled, config=config, device=device).double().cpu()[:, None])
        params.append(sampled)
    merged = {key: torch.cat([p[key] for p in params]) for key in params[0]}
    return TestSet(torch.cat(images), labels, merged)


def training_simulation_config(manifest: dict) -> SimulationConfig:
    """The simulator settings a bundle was trained with (recorded by the trainer), else the defaults.

    A model trained on pixel-integrated patterns is tested on pixel-integrated ones,
    one trained on shards or HipGISAXS output on the current defaults.
    """
    recorded = (manifest.get("training") or {}).get("data", {}).get("config")
    return SimulationConfig.from_record(recorded) if recorded else SimulationConfig()


def training_samples(manifest: dict, count: int) -> TestSet | None:
    """The first ``count`` clean samples of the stream the bundle was trained on (None if not reproducible here)."""
    from ..sources import make_sources

    args = manifest.get("training", {}).get("args", {})
    if "data" not in args:
        return None
    try:
        sources = make_sources(args["data"], batch_size=args["batch_size"], batches_per_epoch=args["batches_per_epoch"],
                               validation_batches=1, seed=args["seed"], mapping=args.get("mapping"),
                               config=training_simulation_config(manifest))
    except (ValueError, FileNotFoundError, OSError):
        return None
    images, labels, taken = [], [], 0
    for batch in sources.train:
        images.append(batch.images.double())
        labels.append(batch.labels)
        taken += batch.labels.numel()
        if taken >= count:
            break
    return TestSet(torch.cat(images)[:count], torch.cat(labels)[:count], {})


def degraded_predictions(classifier: Classifier, test: TestSet, degradation: Degradation, *, seed: int):
    """The classifier's predictions on the test set after ``degradation`` (masked below the horizon)."""
    images = degradation(test.images, torch.Generator().manual_seed(seed))[:, 0].numpy()
    masks = np.broadcast_to(horizon_mask(), images.shape)
    return classifier.predict(images, masks)


def correct_predictions(classifier: Classifier, test: TestSet, specs: list[str], *, seed: int) -> dict[str, np.ndarray]:
    """Which test patterns (N,) bool one classifier gets right under each degradation spec."""
    labels = test.labels.numpy()
    return {spec: degraded_predictions(classifier, test, Degradation.parse(spec), seed=seed).class_indices == labels
            for spec in specs}


def evaluate_model(classifier: Classifier, test: TestSet, specs: list[str], *, seed: int) -> dict[str, float]:
    """Accuracy (%) of one classifier on the test set under each degradation spec."""
    return {spec: percent(right.mean()) for spec, right in correct_predictions(classifier, test, specs, seed=seed).items()}


def accuracy_vs_lattice(correct: dict[str, np.ndarray], test: TestSet, *, range_nm: tuple[float, float]) -> dict:
    """Accuracy (%) per spec of ``correct`` (from :func:`correct_predictions`) in LATTICE_BINS equal bins of ``range_nm``.

    The bins are of nearest-neighbour distance. Returns ``edges_nm``, ``patterns`` per bin and ``accuracy``
    {spec: per bin, None for an empty bin}; weighted by ``patterns`` the bins give the spec's accuracy.
    """
    edges = np.linspace(*range_nm, LATTICE_BINS + 1)
    members = bin_members(test.params["nn_distance_nm"].numpy(), edges)
    return {"edges_nm": edges.round(2).tolist(), "patterns": [int(member.sum()) for member in members],
            "accuracy": {spec: [percent(right[member].mean()) if member.any() else None for member in members]
                         for spec, right in correct.items()}}


def reused_baselines(earlier: dict, *, per_class: int, seed: int, config: SimulationConfig, source: str) -> dict:
    """The dedicated models' and the clean model's figures of an ``earlier`` report's metrics, for a new model's report.

    They are the same numbers those models would give again only on the same test set,
    so the earlier report must have the same patterns per class, seed and simulator settings.
    """
    wanted = {"test_per_class": per_class, "seed": seed, "simulation_config": json.loads(json.dumps(config.to_dict()))}
    for key, value in wanted.items():
        if earlier.get(key) != value:
            raise ValueError(f"{source} was measured on another test set: its {key} is {earlier.get(key)!r}, "
                             f"this evaluation's is {value!r}")
    reused = {key: earlier[key] for key in ("dedicated_models_test", "dedicated_models") if key in earlier}
    if earlier["cross_noise"]["model"] != earlier["model"]:  # a clean model was named, not the model itself
        reused["cross_noise"] = earlier["cross_noise"]
    if not reused:
        raise ValueError(f"{source} holds no dedicated or clean model's figures to reuse")
    return {**reused, "baselines_from": {"report": source, "model": earlier["model"], "sha256": earlier["sha256"]}}


def run_evaluation(classifier: Classifier, out_dir: str | Path, *, per_class: int = 200, seed: int = 90210,
                   dedicated: dict[str, Classifier] | None = None,
                   clean_model: Classifier | None = None, baselines_from: str | Path | None = None,
                   repetition_per_class: int | None = None,
                   ood_count: int = 200, realistic_per_class: int = 0,
                   realistic_layout: DetectorLayout = PILATUS_1M, realistic_window_scale: float | str = "ensemble",
                   device: str = "cpu") -> dict:
    """Every table and figure; returns the metrics dict also written to ``metrics.json``.

    With ``realistic_per_class`` N > 0, also classifies realistic detector frames on
    ``realistic_layout`` through the file path (:func:`..realistic.evaluate.realistic_evaluation`:
    N frames per class and lattice constant, N per lattice constant of each film of no
    class, frame ``i`` from seed ``seed + i``) into ``metrics["realistic"]`` and the
    report's section "Realistic detector frames"; their window scale is chosen per frame as
    ``realistic_window_scale`` says ("ensemble" by default). Test patterns are simulated on
    ``device`` with the simulator settings the model was trained with
    (:func:`training_simulation_config`). ``baselines_from`` (an earlier report's
    ``metrics.json``, on the same test set) gives the dedicated and clean models' figures
    instead of ``dedicated`` and ``clean_model`` (:func:`reused_baselines`).
    """
    if realistic_per_class < 0:
        raise ValueError(f"realistic_per_class must be >= 0, got {realistic_per_class}")
    if baselines_from is not None and (dedicated or clean_model is not None):
        raise ValueError("give dedicated and clean models, or an earlier report to take their figures from, not both")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = training_simulation_config(classifier.manifest)
    reused = {} if baselines_from is None else reused_baselines(
        json.loads(Path(baselines_from).read_text()), per_class=per_class, seed=seed, config=config,
        source=str(baselines_from))
    test = simulate_test_set(per_class, seed=seed, config=config, device=device)
    labels = test.labels.numpy()
    table_specs = list(dict.fromkeys([*paper.TABLE_II, *paper.TABLE_III]))
    metrics: dict = {"model": classifier.name, "sha256": classifier.sha256,
                     "test_time_smear_px": views_record(classifier.test_time_smear_px), "precision": classifier.precision,
                     "test_per_class": per_class, "seed": seed,
                     "training_degradation": (classifier.manifest.get("training") or {}).get("degradation"),
                     "simulation_config": config.to_dict()}
    correct = correct_predictions(classifier, test, table_specs, seed=seed + 1)
    metrics["robust_model_test"] = {spec: percent(right.mean()) for spec, right in correct.items()}
    trained_on = training_samples(classifier.manifest, per_class * NUM_CLASSES)
    if trained_on is not None:
        metrics["robust_model_train"] = evaluate_model(classifier, trained_on, table_specs, seed=seed + 2)
    if dedicated:
        metrics["dedicated_models_test"] = {spec: evaluate_model(model, test, [spec], seed=seed + 1)[spec]
                                            for spec, model in dedicated.items()}
        metrics["dedicated_models"] = {spec: {"name": model.name, "sha256": model.sha256} for spec, model in dedicated.items()}
    metrics["resolution_vs_lattice_nm"] = accuracy_vs_lattice({spec: correct[spec] for spec in paper.TABLE_III}, test,
                                                              range_nm=config.nn_distance_nm_range)
    metrics.update(reused)
    if "cross_noise" not in metrics:
        cross_model = clean_model or classifier
        metrics["cross_noise"] = {"model": cross_model.name,
                                  **evaluate_model(cross_model, test, list(paper.CROSS_NOISE), seed=seed + 3)}

    clean = degraded_predictions(classifier, test, Degradation("clean"), seed=seed)
    matrix = confusion_matrix(clean.class_indices, labels)
    metrics["confusion_matrix"] = matrix.round(4).tolist()
    metrics["recall"] = dict(zip(CLASS_NAMES, recall_per_class(clean.class_indices, labels).round(4).tolist()))
    projections, evr = explained_variance_ratio(clean.embeddings)
    metrics["pca_explained_variance_ratio"] = evr[:10].round(4).tolist()
    mixture = degraded_predictions(classifier, test, Degradation("mixture"), seed=seed + 4)
    metrics["calibration"] = {"clean": reliability(clean.probabilities, labels),
                              "mixture": reliability(mixture.probabilities, labels)}
    metrics["mixture_accuracy"] = percent(accuracy(mixture.class_indices, labels))

    repetition_test = repetition_per_class or max(10, per_class // 4)
    metrics["accuracy_vs_repetitions"] = {}
    for count in REPETITIONS:
        swept = simulate_test_set(repetition_test, seed=seed + count, config=config, device=device,
                                  overrides={"repetitions_lateral": float(count)})
        predicted = degraded_predictions(classifier, swept, Degradation("clean"), seed=seed).class_indices
        metrics["accuracy_vs_repetitions"][str(count)] = percent(accuracy(predicted, swept.labels.numpy()))

    metrics["ood"] = {}
    in_scores = clean.ood_scores
    for kind in OOD_KINDS:
        outside = classifier.predict(ood_patterns(kind, ood_count, seed=seed), np.broadcast_to(horizon_mask(), (ood_count, 125, 125)))
        metrics["ood"][kind] = detection_rate_at_false_alarm(in_scores, outside.ood_scores)

    plots.confusion(matrix, out / "confusion_matrix.png")
    plots.pca(projections[:, :2], labels, evr, out / "pca.png")
    plots.reliability_diagram(metrics["calibration"], out / "reliability.png")
    plots.repetitions(metrics["accuracy_vs_repetitions"], out / "accuracy_vs_repetitions.png")
    if realistic_per_class:
        metrics["realistic"] = realistic_evaluation(
            classifier, out, per_class=realistic_per_class, ood_per_kind=realistic_per_class * len(LATTICE_CONSTANTS_NM),
            seed=seed, layout=realistic_layout, window_scale=realistic_window_scale)
    (out / "metrics.json").write_text(json.dumps(_json_ready(metrics), indent=2) + "\n")
    (out / "report.md").write_text(markdown_report(metrics))
    return metrics


def _json_ready(value):
    """``value`` with every non-finite float (a refused frame's score or scale) as None, for strict JSON."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def model_column(metrics: dict) -> str:
    """How the tables name the evaluated model: "one robust model" when it was trained on the mixture
    (or its training is not recorded), else its name and the one degradation it was trained on."""
    trained = metrics.get("training_degradation")
    if trained in (None, "mixture"):
        return "one robust model"
    return f"`{metrics['model']}`, trained {'clean' if trained == 'clean' else 'on ' + trained}"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _lowest_detection(ood: dict) -> str:
    """The lowest OOD detection rate (%) over film kinds, naming the kind."""
    kind = min(ood, key=lambda name: ood[name]["detection"])
    return f"{100 * ood[kind]['detection']:.1f} (lowest: {kind})"


def summary_table(metrics: dict) -> list[str]:
    """Clean-simulation and realistic-frame figures side by side, with the issue's goals (markdown lines)."""
    realistic = metrics.get("realistic")
    clean_hcp = 100 * metrics["recall"]["HCP0001"]
    lines = ["## Summary", "",
             "| measure | clean simulations | realistic detector frames | goal on realistic frames |", "|---|---|---|---|"]
    if realistic is None:
        rows = [("accuracy (%)", f"{metrics['robust_model_test']['clean']:.1f}", "-"),
                ("HCP0001 recall (%)", f"{clean_hcp:.1f}", "-"),
                ("OOD detection at 5% false alarms (%)", _lowest_detection(metrics["ood"]), "-")]
    else:
        per_lattice = {d: 100 * recall["HCP0001"] for d, recall in realistic["recall_vs_lattice_nm"].items()}
        worst = min(per_lattice, key=per_lattice.get)
        rows = [("accuracy (%)", f"{metrics['robust_model_test']['clean']:.1f}", f"{realistic['accuracy']:.1f}"),
                ("HCP0001 recall (%)", f"{clean_hcp:.1f}",
                 f"{100 * realistic['hcp_recall']:.1f} (lowest per lattice constant: {per_lattice[worst]:.1f} at {worst} nm)"),
                ("OOD detection at 5% false alarms (%)", _lowest_detection(metrics["ood"]),
                 _lowest_detection(realistic["ood"]) if realistic["ood"] else "-")]
    goals = (f">= {GOAL_ACCURACY_PERCENT:g}", f">= {GOAL_HCP_RECALL_PERCENT:g} at every lattice constant",
             f">= {GOAL_OOD_DETECTION_PERCENT:g} for every film")
    lines += [f"| {name} | {clean} | {real} | {goal} |" for (name, clean, real), goal in zip(rows, goals)]
    lines.append("")
    if realistic is None:
        lines += ["Realistic detector frames not evaluated (`gisaxs-cnn evaluate --realistic N` adds them).", ""]
    else:
        lines += [f"Clean: held-out simulations on the canonical grid (films of no class: {', '.join(metrics['ood'])}). "
                  f"Realistic: frames on a {realistic['detector']} through the file path (films of no class: "
                  f"{', '.join(realistic['ood'])}); see [Realistic detector frames](#realistic-detector-frames).", ""]
    return lines


def _views(metrics: dict) -> str:
    """``; test-time views 0, 1x0 px`` (QYxQZ: px along qy and qz) when the model averaged over smeared views, and
    ``; int8 convolutions`` when they ran in int8, else nothing (reports before int8 ran float32 and record no precision)."""
    smear_views = check_smear_views(metrics.get("test_time_smear_px", NO_SMEAR_PX))
    views = "" if smear_views == NO_SMEAR_PX else "; test-time views " + ", ".join(map(view_label, smear_views)) + " px"
    return views + ("; int8 convolutions" if metrics.get("precision") == "int8" else "")


def markdown_report(metrics: dict) -> str:
    """The metrics as a markdown report beside the paper's numbers."""
    test, train = metrics["robust_model_test"], metrics.get("robust_model_train", {})
    dedicated = metrics.get("dedicated_models_test", {})
    ours = model_column(metrics)
    lines = [f"# Evaluation of `{metrics['model']}`", "",
             f"sha256 `{metrics['sha256']}`{_views(metrics)}; {metrics['test_per_class']} held-out simulated patterns per class "
             f"(seed {metrics['seed']}).", "",
             *summary_table(metrics),
             "## Table II: noise (prediction accuracy, %)", "",
             f"| degradation | ours: {ours} (test) | ours (train) | ours: dedicated model | paper: dedicated AlexNet (train) | paper (test) |",
             "|---|---|---|---|---|---|"]
    for spec, (paper_train, paper_test) in paper.TABLE_II.items():
        lines.append(f"| {spec} | {test[spec]:.2f} | {_cell(train.get(spec))} | {_cell(dedicated.get(spec))} | "
                     f"{paper_train:.2f} | {paper_test:.2f} |")
    lines += ["", "## Table III: resolution (prediction accuracy, %)", "",
              f"| degradation | ours: {ours} | ours: dedicated model | paper |", "|---|---|---|---|"]
    for spec, (_, paper_test) in paper.TABLE_III.items():
        lines.append(f"| {spec} | {test[spec]:.2f} | {_cell(dedicated.get(spec))} | {paper_test:.2f} |")
    by_lattice = metrics.get("resolution_vs_lattice_nm")
    if by_lattice:
        edges = by_lattice["edges_nm"]
        lines += ["", f"Table III by nearest-neighbour distance ({ours}, %): the first peaks of the largest lattices "
                      "lie nearest the specular rod, where resolution loss merges them first.", "",
                  "| degradation | " + " | ".join(f"{low:.1f}-{high:.1f} nm" for low, high in zip(edges, edges[1:])) + " |",
                  "|---|" + "---|" * (len(edges) - 1),
                  "| patterns | " + " | ".join(str(count) for count in by_lattice["patterns"]) + " |",
                  *[f"| {spec} | " + " | ".join(_cell(value) for value in values) + " |"
                    for spec, values in by_lattice["accuracy"].items()]]
    if "dedicated_models" in metrics:
        lines += ["", "Dedicated models: " + ", ".join(f"{spec} `{model['name']}` ({model['sha256'][:12]})"
                                                     for spec, model in metrics["dedicated_models"].items()) + "."]
    if "baselines_from" in metrics:
        earlier = metrics["baselines_from"]
        lines += ["", f"Dedicated and clean models' figures taken from the report of `{earlier['model']}` "
                      f"({earlier['sha256'][:12]}; `{earlier['report']}`), measured on this same test set."]
    cross = metrics["cross_noise"]
    lines += ["", f"## Cross-noise: model `{cross['model']}` tested on degraded data (%)", "",
              f"| degradation | ours: `{cross['model']}` | ours: {ours} | paper (trained clean) |", "|---|---|---|---|"]
    lines += [f"| {spec} | {_cell(cross[spec])} | {_cell(test.get(spec))} | {_cell(value)} |" for spec, value in paper.CROSS_NOISE.items()]
    recall = metrics["recall"]
    lines += ["", "## Confusion matrix (Fig. 2) and recall", "", "![confusion](confusion_matrix.png)", "",
              "| class | recall |", "|---|---|", *[f"| {k} | {100 * v:.2f} |" for k, v in recall.items()],
              "", "## PCA of the penultimate layer (Fig. 3)", "", "![pca](pca.png)", "",
              f"Explained variance ratio of the first two components: {metrics['pca_explained_variance_ratio'][1]:.3f} "
              f"(paper: {paper.PCA_TWO_COMPONENT_EVR:.2f}).", "",
              "## Accuracy vs repetitions (Fig. 6)", "", "![repetitions](accuracy_vs_repetitions.png)", "",
              "| repetitions | accuracy (%) |", "|---|---|",
              *[f"| {k} | {v:.2f} |" for k, v in metrics["accuracy_vs_repetitions"].items()],
              "", "## Calibration", "", "![reliability](reliability.png)", "",
              f"Expected calibration error: clean {metrics['calibration']['clean']['ece']:.4f}, "
              f"random degradation mixture {metrics['calibration']['mixture']['ece']:.4f} "
              f"(accuracy on the mixture {metrics['mixture_accuracy']:.2f}%).", "",
              "## Out-of-distribution detection at 5% false alarms", "", "| patterns | detection rate |", "|---|---|",
              *[f"| {k} | {100 * v['detection']:.1f}% |" for k, v in metrics["ood"].items()], ""]
    if "realistic" in metrics:
        lines.append(markdown_tables(metrics["realistic"]))
    return "\n".join(lines)
