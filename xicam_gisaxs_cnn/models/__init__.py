"""Model architectures, weight bundles and the classifier API.

>>> from xicam_gisaxs_cnn.models import load_model
>>> classifier = load_model()                 # the shipped default        # doctest: +SKIP
>>> classifier.predict(image).label           # one canonical 125x125 image # doctest: +SKIP
"""
from __future__ import annotations

import os
from typing import Sequence

import torch

from .architectures import ARCHITECTURES, EmbeddingClassifier, build_model
from .bundle import Bundle, BundleError, MaxSoftmaxOod, NearestNeighbourOod, OodStatistics, load_bundle, save_bundle
from .classifier import PRECISIONS, Classifier, Prediction, check_precision
from .test_time import SmearView, check_smear_views
from .registry import (
    DEFAULT_MODEL_NAME, DETECTOR_FRAME_MODEL_NAME, MODEL_DIR_VARIABLE, list_models, resolve_bundle, user_model_dir,
)


def load_model(name_or_path: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
               test_time_smear_px: Sequence[SmearView] | None = None, precision: str | None = None) -> Classifier:
    """Load a classifier: ``None`` for the shipped default, a bundle name, or a bundle directory.

    ``test_time_smear_px``, if given, replaces the bundle's own test-time views (px);
    ``precision`` (``"float32"`` or ``"int8"``), if given, the classifier's own (:attr:`Classifier.precision`).
    """
    classifier = Classifier(load_bundle(resolve_bundle(name_or_path)), device=device)
    if test_time_smear_px is not None:
        classifier.test_time_smear_px = test_time_smear_px
    if precision is not None:
        classifier.precision = precision
    return classifier


class ModelsByFrameKind:
    """The shipped model for a kind of frame, each loaded once: ``frames`` for detector frames, ``default``
    for canonical images.

    What ``gisaxs-cnn classify``, ``live`` and ``classify-run`` use when no ``--model`` is given;
    call it with ``detector_frames`` True for frames that come with a detector geometry.
    ``test_time_smear_px`` and ``precision``, if given, replace each bundle's own test-time views
    (px) and precision.
    """

    def __init__(self, test_time_smear_px: Sequence[SmearView] | None = None, precision: str | None = None) -> None:
        self.test_time_smear_px = None if test_time_smear_px is None else check_smear_views(test_time_smear_px)
        self.precision = None if precision is None else check_precision(precision)
        self._loaded: dict[bool, Classifier] = {}

    def __call__(self, detector_frames: bool) -> Classifier:
        if detector_frames not in self._loaded:
            self._loaded[detector_frames] = load_model(DETECTOR_FRAME_MODEL_NAME if detector_frames else None,
                                                       test_time_smear_px=self.test_time_smear_px,
                                                       precision=self.precision)
        return self._loaded[detector_frames]


__all__ = [
    "ARCHITECTURES", "Bundle", "BundleError", "Classifier", "DEFAULT_MODEL_NAME", "DETECTOR_FRAME_MODEL_NAME",
    "EmbeddingClassifier", "MODEL_DIR_VARIABLE", "MaxSoftmaxOod", "ModelsByFrameKind", "NearestNeighbourOod",
    "OodStatistics", "PRECISIONS", "Prediction", "build_model", "list_models", "load_bundle", "load_model", "resolve_bundle",
    "save_bundle", "user_model_dir",
]
