"""Where bundles live: an explicit path, the user model directory, the shipped defaults.

The user directory is ``$GISAXS_CNN_MODEL_DIR`` if set, else
``platformdirs.user_data_dir("xicam-gisaxs-cnn")/models``; the trainer writes new
bundles there, and they are found by name with no other step.
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .bundle import MANIFEST_FILE, BundleError

MODEL_DIR_VARIABLE: str = "GISAXS_CNN_MODEL_DIR"
DEFAULT_MODEL_NAME: str = "default"
DETECTOR_FRAME_MODEL_NAME: str = "frames"
"""The shipped model trained across lattice scales with detector randomisation: what
``gisaxs-cnn classify`` uses on detector frames when no ``--model`` is given."""
SHIPPED_DIR: Path = Path(__file__).parent / "bundles"


def user_model_dir() -> Path:
    """The directory where user-trained bundles are written and looked up."""
    override = os.environ.get(MODEL_DIR_VARIABLE)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("xicam-gisaxs-cnn")) / "models"


def list_models() -> dict[str, Path]:
    """Every bundle found by name: user bundles first, shipped ones where not shadowed."""
    found: dict[str, Path] = {}
    for root in (user_model_dir(), SHIPPED_DIR):
        if root.is_dir():
            for manifest in sorted(root.glob(f"*/{MANIFEST_FILE}")):
                found.setdefault(manifest.parent.name, manifest.parent)
    return found


def resolve_bundle(name_or_path: str | os.PathLike | None = None) -> Path:
    """The bundle directory for a name, a path, or ``None`` (the shipped default)."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL_NAME
    candidate = Path(name_or_path).expanduser()
    if (candidate / MANIFEST_FILE).is_file():
        return candidate
    name = str(name_or_path)
    models = list_models()
    if name in models:
        return models[name]
    known = ", ".join(models) or "none"
    raise BundleError(
        f"no model bundle {name!r}: not a bundle directory, and not a name in {user_model_dir()} or the shipped "
        f"models (known: {known})"
    )
