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

from ..models import Classifier, load_model, resolve_bundle
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
