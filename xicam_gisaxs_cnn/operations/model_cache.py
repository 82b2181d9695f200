"""Load each model bundle once per process and classify single frames with it.

Classify operations run once per frame; loading a bundle (reading the weights,
building the network) costs far more than one forward pass. Bundles are cached by
their resolved directory and the modification time of their manifest, so a name
and a path to the same bundle share one model, and a bundle rewritten in place
(re-trained under the same name) is loaded afresh.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from ..frames import DetectorGeometry, canonical_frame, classify_frames
from ..frames.fold import FOLD_QY
from ..frames.scale import DETECTOR_FRAME_WINDOW_SCALE, parse_window_scale
from ..models import DETECTOR_FRAME_MODEL_NAME, Classifier, load_model, resolve_bundle
from ..models.bundle import MANIFEST_FILE

CACHE_SIZE: int = 4
"""Bundles kept loaded at once (least recently used ones are dropped)."""


@functools.lru_cache(maxsize=CACHE_SIZE)
def _load(directory: str, manifest_mtime_ns: int) -> Classifier:
    return load_model(directory)


def cached_model(name_or_path: str | os.PathLike | None = None) -> Classifier:
    """The classifier for a bundle name or directory, loaded on first use and reused after.

    Parameters
    ----------
    name_or_path : str, path or None
        A bundle directory, a bundle name (user model directory, then the
        shipped bundles), or ``None`` / ``""`` for the shipped default.

    Returns
    -------
    Classifier
        The same object for every call naming the same, unchanged bundle.
    """
    directory = Path(resolve_bundle(name_or_path or None)).resolve()
    return _load(str(directory), (directory / MANIFEST_FILE).stat().st_mtime_ns)


def classify_frame(
    image: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    model: str | os.PathLike | None = None,
) -> tuple[str, np.ndarray, float, bool, np.ndarray]:
    """Classify one canonical image and explain the decision.

    Parameters
    ----------
    image : (125, 125) array
        Intensities on the canonical q grid.
    mask : (125, 125) bool array, optional
        True where the image holds data.
    model : str, path or None
        Bundle name or directory; ``None`` or ``""`` for the shipped default.

    Returns
    -------
    label : str
        Predicted class name.
    probabilities : (7,) float array
        Probability of each class, in :data:`xicam_gisaxs_cnn.classes.CLASS_NAMES` order.
    ood_score : float
        Out-of-distribution score (higher = less like the training data).
    ood_flag : bool
        True when ``ood_score`` is above the bundle's threshold.
    saliency : (125, 125) float array
        Gradient saliency of the predicted class, scaled to [0, 1].
    """
    classifier = cached_model(model)
    prediction = classifier.predict(image, mask)
    saliency = classifier.saliency(image, mask)
    return (
        prediction.label,
        prediction.probability,
        prediction.ood_score,
        bool(prediction.ood_flags[0]),
        saliency,
    )


def classify_detector_frame(
    frame: np.ndarray,
    *,
    geometry: DetectorGeometry,
    window_scale: float | str = DETECTOR_FRAME_WINDOW_SCALE,
    fold: bool = FOLD_QY,
    model: str | os.PathLike | None = None,
) -> tuple[str, np.ndarray, float, bool, float, np.ndarray, np.ndarray, np.ndarray]:
    """Classify one detector frame as ``gisaxs-cnn classify`` does and explain the decision at the scale used.

    Parameters
    ----------
    frame : (rows, columns) array
        Detector counts; gaps hold 0 or negative values.
    geometry : DetectorGeometry
    window_scale : float or str
        A zoom of the q window, ``"auto"``, ``"confidence"`` or ``"ensemble"`` (the default),
        as a number or as text (:func:`~xicam_gisaxs_cnn.frames.scale.parse_window_scale`).
    fold : bool
        Fold the canonical image about qy = 0.
    model : str, path or None
        Bundle name or directory; ``None`` or ``""`` for the shipped ``frames`` model.

    Returns
    -------
    label, probabilities, ood_score, ood_flag
        As :func:`classify_frame`.
    window_scale : float
        The scale used (the one chosen, with a mode).
    image, mask : (125, 125) arrays
        The canonical image at that scale and its validity mask.
    saliency : (125, 125) float array
        Gradient saliency of the predicted class on that image, scaled to [0, 1].

    A frame the path refuses (too little valid data, no finite value) raises a ValueError naming the problem.
    """
    classifier = cached_model(model or DETECTOR_FRAME_MODEL_NAME)
    (result,) = classify_frames([frame], classifier=classifier, geometry=geometry, sources=["frame"],
                                window_scale=parse_window_scale(window_scale), fold=fold)
    if result.error:
        raise ValueError(result.error)
    image, mask = canonical_frame(frame, geometry=geometry, window_scale=result.window_scale, fold=fold)
    return (result.label, np.asarray(result.probabilities), float(result.ood_score), bool(result.ood_flag),
            float(result.window_scale), image, mask, classifier.saliency(image, mask))
