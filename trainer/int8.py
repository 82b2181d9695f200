"""Calibrate a bundle's int8 convolutions on simulated patterns and measure them against float32.

:func:`calibrate_bundle` simulates canonical patterns of every class as the bundle was trained
on (clean, and through the degradation mixture), measures its activations' ranges
(:func:`xicam_gisaxs_cnn.models.int8.calibrate`) and, on a held-out set, the accuracy in
float32 and in int8 under each degradation; :func:`save_with_int8` writes the bundle again
with the calibration in its manifest. The weights are unchanged.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from xicam_gisaxs_cnn.canonical import horizon_mask
from xicam_gisaxs_cnn.models import Classifier
from xicam_gisaxs_cnn.models.inference import inference_network
from xicam_gisaxs_cnn.models.int8 import calibrate, quantised_blocks
from xicam_gisaxs_cnn.preprocess import model_input_torch

from .degradation import Degradation
from .evaluation.metrics import percent
from .evaluation.report import TestSet, simulate_test_set, training_simulation_config
from .rewrite import rewrite_bundle

CALIBRATION_DEGRADATIONS: tuple[str, ...] = ("clean", "mixture")
"""The calibration patterns: each simulated pattern once clean and once through the degradation mixture."""

MEASURED_DEGRADATIONS: tuple[str, ...] = ("clean", "smear:1", "gaussian:1", "poisson:100000", "rescale:25", "mixture")
"""Where float32 and int8 are compared on the held-out set."""


def _degraded(test: TestSet, spec: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The test set's images after ``spec`` (N, 125, 125) and the horizon mask broadcast along them."""
    images = Degradation.parse(spec)(test.images, torch.Generator().manual_seed(seed))[:, 0].float().numpy()
    return images, np.broadcast_to(horizon_mask(), images.shape)


def compare_precisions(classifier: Classifier, test: TestSet, specs: Sequence[str], *, seed: int) -> dict[str, Any]:
    """Accuracy (%) in float32 and in int8 under each spec, the share of labels both give alike (%) and the
    largest difference of a class probability; the classifier's precision is left as it was."""
    labels, previous = test.labels.numpy(), classifier.precision
    rows = {}
    try:
        for spec in specs:
            images, masks = _degraded(test, spec, seed)
            predictions = {}
            for precision in ("float32", "int8"):
                classifier.precision = precision
                predictions[precision] = classifier.predict(images, masks)
            floats, int8s = predictions["float32"], predictions["int8"]
            rows[spec] = {
                "float32_percent": percent(np.mean(floats.class_indices == labels)),
                "int8_percent": percent(np.mean(int8s.class_indices == labels)),
                "same_label_percent": percent(np.mean(floats.class_indices == int8s.class_indices)),
                "largest_probability_difference": round(float(np.abs(floats.probabilities - int8s.probabilities).max()), 4),
            }
    finally:
        classifier.precision = previous
    return rows


def calibrate_bundle(classifier: Classifier, *, per_class: int = 40, seed: int = 777, test_per_class: int = 100,
                     test_seed: int = 31337) -> dict[str, Any]:
    """The manifest's ``int8`` record for ``classifier``'s bundle: calibrated on ``per_class`` patterns of each class
    (seed ``seed``), measured on ``test_per_class`` held-out ones (seed ``test_seed``, disjoint)."""
    if per_class < 1 or test_per_class < 1:
        raise ValueError(f"per_class and test_per_class must be >= 1, got {per_class} and {test_per_class}")
    if seed == test_seed:
        raise ValueError(f"the calibration and the held-out set need different seeds, both are {seed}")
    network = inference_network(classifier.model)  # float32, whatever the classifier's precision
    if not quantised_blocks(network.backbone):  # before minutes of simulation, not after
        raise ValueError(f"model {classifier.name!r} ({classifier.manifest.get('architecture')}) has no (Conv2d, ReLU) "
                         "blocks after its stem to run in int8; int8 serves the compact architecture")
    config = training_simulation_config(classifier.manifest)
    patterns = simulate_test_set(per_class, seed=seed, config=config)
    images = torch.cat([torch.from_numpy(_degraded(patterns, spec, seed)[0]) for spec in CALIBRATION_DEGRADATIONS])
    masks = torch.from_numpy(horizon_mask())[None, None].expand(images.shape[0], 1, *images.shape[1:])
    record = calibrate(network, model_input_torch(images[:, None], masks))
    record["weights_sha256"] = classifier.sha256
    record["calibration"] = {"per_class": per_class, "seed": seed, "degradations": list(CALIBRATION_DEGRADATIONS),
                             "patterns": int(images.shape[0])}
    with_int8 = Classifier(dataclasses.replace(classifier.bundle, manifest={**classifier.manifest, "int8": record}))
    test = simulate_test_set(test_per_class, seed=test_seed, config=config)
    record["measured"] = {"per_class": test_per_class, "seed": test_seed,
                          "degradations": compare_precisions(with_int8, test, MEASURED_DEGRADATIONS, seed=test_seed)}
    return record


def save_with_int8(classifier: Classifier, record: dict[str, Any], directory: str | Path, *,
                   name: str | None = None) -> Path:
    """Write ``classifier``'s bundle into ``directory`` with the int8 calibration ``record``; everything else,
    its ``report/`` folder included, as it was (:func:`~xicam_gisaxs_cnn_trainer.rewrite.rewrite_bundle`)."""
    threshold_fit = (classifier.manifest.get("ood") or {}).get("threshold_fit")
    return rewrite_bundle(classifier, directory, name=name, ood=classifier.bundle.ood, ood_threshold_fit=threshold_fit,
                          int8=record)
