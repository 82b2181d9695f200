"""Set a bundle's OOD threshold on realistic detector frames, through the user's file path.

A threshold fitted on single-scale validation patterns need not suit detector frames:
``--window-scale ensemble`` reports the probability at its most confident scale, which
runs higher, so the frames' OOD scores run lower. :func:`fit_frame_threshold` writes
realistic superlattice frames (every class at every lattice constant), classifies them
as ``gisaxs-cnn classify`` does, and puts the threshold at the quantile that flags
``false_alarm`` of them. :func:`save_with_threshold` writes the bundle again with that
threshold and a record of how it was fitted; the weights are unchanged.

With ``window_scale="ensemble"`` the same frames also fit the bundle's ensemble temperature:
the T that minimises the negative log-likelihood of the frames' true classes under the
scale-averaged probabilities raised to 1/T (:func:`~xicam_gisaxs_cnn.frames.scale.tempered`,
:func:`~xicam_gisaxs_cnn_trainer.calibration.fit_temperature` on their logarithms). Averaged over
scales where the lattice does not fit, those probabilities are far flatter than the labels
are uncertain.
"""
from __future__ import annotations

import copy
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.frames.fold import FOLD_QY
from xicam_gisaxs_cnn.frames.scale import tempered
from xicam_gisaxs_cnn.models import Classifier
from xicam_gisaxs_cnn.models.test_time import views_record

from ..calibration import fit_temperature
from ..evaluation.metrics import percent, reliability, threshold_at_false_alarm
from ..rewrite import rewrite_bundle
from .evaluate import FALSE_ALARM, LATTICE_CONSTANTS_NM, classify_realistic, frame_path, superlattice_jobs
from .frames import PILATUS_1M, DetectorLayout, realistic_frame


def fit_frame_threshold(
    classifier: Classifier,
    *,
    per_class: int = 2,
    seed: int = 424242,
    false_alarm: float = FALSE_ALARM,
    layout: DetectorLayout = PILATUS_1M,
    lattice_constants_nm: tuple[float, ...] = LATTICE_CONSTANTS_NM,
    window_scale: float | str = "ensemble",
    fold: bool = FOLD_QY,
) -> dict[str, Any]:
    """The OOD threshold that flags ``false_alarm`` of realistic superlattice frames, and how it was found.

    Frame ``i`` (class and lattice constant in turn, ``per_class`` of each) uses seed
    ``seed + i``; use seeds disjoint from the evaluation report's (90210). Frames the
    path refuses (an error instead of a label) have no score and are left out. ``window_scale``
    and ``fold`` are passed to the classification as by ``gisaxs-cnn classify``.

    Returns
    -------
    dict
        ``threshold``, ``previous_threshold``, ``method`` (the bundle's OOD score),
        ``false_alarm``, ``frames`` (scored), ``refused``, ``per_class``, ``seed``,
        ``lattice_constants_nm``, ``window_scale``, ``fold``, ``detector``,
        ``test_time_smear_px`` (the classifier's views), ``precision`` (its precision), ``accuracy`` (% of
        the scored frames labelled right), ``ensemble_temperature`` (fitted with ``"ensemble"``, else
        the classifier's), ``ensemble_calibration`` (with ``"ensemble"``: negative log-likelihood and
        expected calibration error, %, of the scored frames before and after; else None) and
        ``scores`` (one per scored frame).
    """
    if classifier.bundle.ood is None:
        raise ValueError(f"model {classifier.name!r} carries no OOD score to set a threshold for")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    if not 0.0 < false_alarm < 1.0:
        raise ValueError(f"false_alarm must be in (0, 1), got {false_alarm}")
    jobs = superlattice_jobs(lattice_constants_nm, per_class)
    # the same model and precision (a copy makes its own inference copy); the ensemble's probabilities as averaged
    untempered = copy.copy(classifier)
    untempered.ensemble_temperature = 1.0
    with tempfile.TemporaryDirectory() as folder:
        records = [
            classify_realistic(realistic_frame(kind, nn_distance_nm=d, seed=seed + index, layout=layout),
                               frame_path(Path(folder), index, kind, d), classifier=untempered, window_scale=window_scale,
                               fold=fold)
            for index, (kind, d) in enumerate(jobs)
        ]
    scored = [record for record in records if not record["error"] and np.isfinite(record["ood_score"])]
    if not scored:
        raise ValueError(f"the model refused or could not score all {len(records)} frames; no threshold can be fitted")
    scores = np.array([record["ood_score"] for record in scored])
    temperature, calibration = classifier.ensemble_temperature, None
    if window_scale == "ensemble":
        temperature, calibration = fit_ensemble_temperature(
            np.array([record["probabilities"] for record in scored]),
            np.array([CLASS_NAMES.index(record["kind"]) for record in scored]))
    return {
        "threshold": threshold_at_false_alarm(scores, false_alarm),
        "previous_threshold": float(classifier.bundle.ood.threshold),
        "method": classifier.bundle.ood.method,
        "false_alarm": false_alarm,
        "frames": len(scored),
        "refused": len(records) - len(scored),
        "per_class": per_class,
        "seed": seed,
        "lattice_constants_nm": list(lattice_constants_nm),
        "window_scale": window_scale,
        "fold": fold,
        "detector": layout.name,
        "test_time_smear_px": views_record(classifier.test_time_smear_px),
        "precision": classifier.precision,
        "accuracy": percent(np.mean([record["label"] == record["kind"] for record in scored])),
        "ensemble_temperature": temperature,
        "ensemble_calibration": calibration,
        "scores": scores.tolist(),
    }


def fit_ensemble_temperature(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, dict[str, float]]:
    """T for :func:`~xicam_gisaxs_cnn.frames.scale.tempered` fitted to frames' ensemble probabilities (N, 7)
    and true class indices (N,), and the frames' negative log-likelihood and ECE (%) before and after."""
    temperature = fit_temperature(torch.log(torch.as_tensor(probabilities, dtype=torch.float32).clamp_min(1e-30)),
                                  torch.as_tensor(labels))
    measures = {}
    for when, values in (("before", probabilities), ("after", tempered(probabilities, temperature))):
        true_class = np.maximum(values[np.arange(len(labels)), labels], np.finfo(np.float64).tiny)
        measures[f"nll_{when}"] = round(float(-np.mean(np.log(true_class))), 4)
        measures[f"ece_{when}_percent"] = round(percent(reliability(values, labels)["ece"]), 2)
    return temperature, measures


def save_with_threshold(classifier: Classifier, fit: dict[str, Any], directory: str | Path, *, name: str | None = None) -> Path:
    """Write ``classifier``'s bundle into ``directory`` with ``fit["threshold"]`` and ``fit["ensemble_temperature"]``;
    the fit goes in ``ood.threshold_fit``.

    The classifier's ``test_time_smear_px`` goes into the manifest with it. The bundle's int8
    calibration and its ``report/`` folder (its evaluation) come along: the weights are the same.
    """
    ood = dataclasses.replace(classifier.bundle.ood, threshold=fit["threshold"])
    record = {key: value for key, value in fit.items() if key != "scores"}
    return rewrite_bundle(classifier, directory, name=name, ood=ood, ood_threshold_fit=record,
                          int8=classifier.manifest.get("int8"), ensemble_temperature=fit["ensemble_temperature"])
