"""Write a loaded bundle again with the same weights: a new OOD threshold or int8 calibration, the rest as it was."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from xicam_gisaxs_cnn.models import Classifier, save_bundle
from xicam_gisaxs_cnn.models.bundle import OodScore


def rewrite_bundle(classifier: Classifier, directory: str | Path, *, name: str | None, ood: OodScore | None,
                   ood_threshold_fit: dict[str, Any] | None, int8: dict[str, Any] | None,
                   ensemble_temperature: float | None = None) -> Path:
    """Write ``classifier``'s bundle into ``directory`` (named ``name``, else the folder's) with these OOD score,
    threshold fit, int8 calibration and ensemble temperature (default: the classifier's); the classifier's
    temperature and test-time views, the manifest's architecture, training record and metrics, and the
    ``report/`` folder (its evaluation) come along."""
    bundle, manifest = classifier.bundle, classifier.manifest
    if (bundle.path / "report").is_dir():
        shutil.copytree(bundle.path / "report", Path(directory) / "report", dirs_exist_ok=True)
    return save_bundle(
        bundle.model, directory, name=name or Path(directory).name, architecture=manifest["architecture"],
        architecture_kwargs=manifest.get("architecture_kwargs"), temperature=classifier.temperature, ood=ood,
        ood_threshold_fit=ood_threshold_fit, training=manifest.get("training"), metrics=manifest.get("metrics"),
        test_time_smear_px=classifier.test_time_smear_px, int8=int8,
        ensemble_temperature=classifier.ensemble_temperature if ensemble_temperature is None else ensemble_temperature,
    )
