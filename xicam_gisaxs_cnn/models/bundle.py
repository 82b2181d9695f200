"""Weight bundles: a directory with ``model.safetensors`` and ``manifest.json``.

The manifest records the architecture, class list, canonical grid, preprocessing,
calibration temperature, out-of-distribution statistics, training provenance,
metrics, the sha256 of the weights and, optionally, their int8 calibration and the temperature
of detector frames' ensemble probabilities. Loading
verifies all of it and refuses a bundle that does not match this package's input
contract. Weights are never pickled.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import torch
from safetensors.torch import load_file, save_file

from ..canonical import IMAGE_SIZE, QY_RANGE_NM, QZ_RANGE_NM
from ..classes import CLASS_NAMES
from ..preprocess import PREPROCESSING
from .architectures import EmbeddingClassifier, build_model
from .int8 import check_record as check_int8_record
from .test_time import NO_SMEAR_PX, SmearView, check_smear_views, views_record

BUNDLE_FORMAT: int = 1
WEIGHTS_FILE: str = "model.safetensors"
MANIFEST_FILE: str = "manifest.json"
OOD_MEANS_KEY: str = "ood.class_means"
OOD_PRECISION_KEY: str = "ood.precision"
OOD_REFERENCES_KEY: str = "ood.references"


class BundleError(ValueError):
    """A weight bundle is missing, corrupt, or does not match this package's contract."""


def canonical_grid_record() -> dict[str, Any]:
    """The canonical grid as written in manifests."""
    return {"size": IMAGE_SIZE, "qy_range_nm": list(QY_RANGE_NM), "qz_range_nm": list(QZ_RANGE_NM)}


@dataclass
class OodStatistics:
    """Class-conditional Gaussian model of the embeddings (Mahalanobis out-of-distribution score).

    ``class_means`` (C, D) and a shared ``precision`` (D, D) matrix; ``threshold`` is
    the score above which a frame is flagged (5% false alarms on in-distribution data).
    """

    class_means: torch.Tensor
    precision: torch.Tensor
    threshold: float
    method: ClassVar[str] = "mahalanobis"

    def tensors(self) -> dict[str, torch.Tensor]:
        """What the bundle's weights file stores."""
        return {OOD_MEANS_KEY: self.class_means, OOD_PRECISION_KEY: self.precision}

    def score(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Minimum over classes of the squared Mahalanobis distance, divided by D (about 1 in distribution)."""
        difference = embeddings[:, None, :] - self.class_means[None].to(embeddings.dtype)
        distance = torch.einsum("ncd,de,nce->nc", difference, self.precision.to(embeddings.dtype), difference)
        return distance.min(dim=1).values / embeddings.shape[1]


@dataclass
class NearestNeighbourOod:
    """Deep nearest-neighbour out-of-distribution score (Sun et al., ICML 2022).

    The score of an embedding is its cosine distance (1 - cosine similarity) to the
    ``k``-th nearest of ``references`` (M, D), unit-norm embeddings of clean training
    patterns; ``threshold`` flags 5% of in-distribution frames. Unlike distances to
    class means, it needs no Gaussian model of each class.
    """

    references: torch.Tensor
    k: int
    threshold: float
    method: ClassVar[str] = "knn-cosine"
    _columns: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # a contiguous (D, M) copy: the product with it is faster than with the transposed view
        # of ``references`` (the default's ``predict`` 1.06x faster at batch 1, docs/benchmarks.md)
        self._columns = self.references.float().T.contiguous()

    def tensors(self) -> dict[str, torch.Tensor]:
        """What the bundle's weights file stores."""
        return {OOD_REFERENCES_KEY: self.references}

    def score(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Cosine distance of each embedding (N, D) to its ``k``-th nearest reference, in [0, 2]."""
        unit = torch.nn.functional.normalize(embeddings.float(), dim=1)
        similarity = unit @ self._columns.to(unit.device)
        return 1.0 - similarity.topk(self.k, dim=1).values[:, -1]  # the k-th largest similarity


@dataclass
class MaxSoftmaxOod:
    """Maximum-softmax-probability score (Hendrycks & Gimpel, ICLR 2017): 1 - the largest calibrated class probability.

    Right for models trained with outlier exposure (``gisaxs-cnn train --outliers``),
    which learn to give films of no class near-uniform probabilities; ``threshold``
    flags 5% of in-distribution frames. It needs no stored tensors.
    """

    threshold: float
    method: ClassVar[str] = "max-softmax"

    def tensors(self) -> dict[str, torch.Tensor]:
        """What the bundle's weights file stores: nothing."""
        return {}

    def score(self, probabilities: torch.Tensor) -> torch.Tensor:
        """1 - max_c p_c of each row of ``probabilities`` (N, C), in [0, 1 - 1/C]."""
        return 1.0 - probabilities.float().max(dim=1).values


OodScore = OodStatistics | NearestNeighbourOod | MaxSoftmaxOod
"""Any out-of-distribution score a bundle may carry."""

SCORES_PROBABILITIES: tuple[type, ...] = (MaxSoftmaxOod,)
"""OOD scores computed from the class probabilities; the others take the embeddings."""


@dataclass
class Bundle:
    """A loaded bundle: the model in eval mode, its manifest and where it came from."""

    model: EmbeddingClassifier
    manifest: dict[str, Any]
    path: Path
    ood: OodScore | None = None

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def sha256(self) -> str:
        return self.manifest["sha256"]


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_ensemble_temperature(temperature: Any) -> float:
    """``temperature`` as a float, or a ValueError unless it is a finite number > 0."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not 0.0 < float(temperature) < float("inf"):
        raise ValueError(f"ensemble_temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def save_bundle(
    model: EmbeddingClassifier,
    directory: str | Path,
    *,
    name: str | None = None,
    architecture: str | None = None,
    architecture_kwargs: dict[str, Any] | None = None,
    temperature: float = 1.0,
    ood: OodScore | None = None,
    ood_threshold_fit: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    test_time_smear_px: Sequence[SmearView] = NO_SMEAR_PX,
    int8: dict[str, Any] | None = None,
    ensemble_temperature: float = 1.0,
) -> Path:
    """Write ``model`` as a bundle into ``directory`` (created); return the directory.

    ``architecture`` defaults to the registered name of the model's class;
    ``ood_threshold_fit`` records how the OOD threshold was set, when not on the
    validation set (``manifest["ood"]["threshold_fit"]``); ``test_time_smear_px``
    names the views its classifier averages over (:mod:`.test_time`; default: the image alone);
    ``int8`` is a calibration of these weights (:mod:`.int8`), refused if made for others;
    ``ensemble_temperature`` sharpens detector frames' ``"ensemble"`` probabilities
    (:func:`xicam_gisaxs_cnn.frames.scale.tempered`; fitted by ``gisaxs-cnn fit-ood-threshold``).
    """
    from .architectures import ARCHITECTURES

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if architecture is None:
        matches = [key for key, factory in ARCHITECTURES.items() if factory is type(model)]
        if not matches:
            raise BundleError(f"cannot tell the architecture of {type(model).__name__}; pass architecture=")
        architecture = matches[0]
    if not temperature > 0:
        raise BundleError(f"temperature must be > 0, got {temperature}")
    smear_views = check_smear_views(test_time_smear_px)
    try:
        ensemble_temperature = check_ensemble_temperature(ensemble_temperature)
    except ValueError as error:
        raise BundleError(str(error)) from None
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    if ood is not None:
        tensors.update({key: value.detach().cpu().float().contiguous() for key, value in ood.tensors().items()})
    weights = directory / WEIGHTS_FILE
    save_file(tensors, str(weights))
    manifest = {
        "format": BUNDLE_FORMAT,
        "name": name or directory.name,
        "architecture": architecture,
        "architecture_kwargs": architecture_kwargs or {},
        "classes": list(CLASS_NAMES),
        "canonical_grid": canonical_grid_record(),
        "preprocessing": PREPROCESSING,
        "temperature": float(temperature),
        "test_time_smear_px": views_record(smear_views),
        "ensemble_temperature": ensemble_temperature,
        **({} if int8 is None else {"int8": int8}),
        "ood": None if ood is None else _ood_record(ood, ood_threshold_fit),
        "training": training or {},
        "metrics": metrics or {},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "sha256": file_sha256(weights),
    }
    if int8 is not None:
        _check_int8(manifest, directory)
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return directory


def _ood_record(ood: OodScore, threshold_fit: dict[str, Any] | None) -> dict[str, Any]:
    record = {"method": ood.method, "threshold": float(ood.threshold)}
    if isinstance(ood, NearestNeighbourOod):
        record.update(k=int(ood.k), references=int(ood.references.shape[0]))
    if threshold_fit:
        record["threshold_fit"] = threshold_fit
    return record


def _load_ood(record: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path) -> OodScore:
    """The OOD score a manifest's ``ood`` record names, taking its tensors out of ``tensors``."""
    method = record.get("method")
    if method == NearestNeighbourOod.method:
        return NearestNeighbourOod(tensors.pop(OOD_REFERENCES_KEY), int(record["k"]), record["threshold"])
    if method == OodStatistics.method:
        return OodStatistics(tensors.pop(OOD_MEANS_KEY), tensors.pop(OOD_PRECISION_KEY), record["threshold"])
    if method == MaxSoftmaxOod.method:
        return MaxSoftmaxOod(record["threshold"])
    raise BundleError(f"bundle {directory}: unknown OOD method {method!r} (expected knn-cosine, mahalanobis or max-softmax)")


def _check_contract(manifest: dict[str, Any], path: Path) -> None:
    expected = {
        "classes": list(CLASS_NAMES),
        "canonical_grid": canonical_grid_record(),
        "preprocessing": json.loads(json.dumps(PREPROCESSING)),
    }
    for key, value in expected.items():
        if manifest.get(key) != value:
            raise BundleError(f"bundle {path}: its {key} {manifest.get(key)!r} does not match this package's {value!r}")
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"bundle {path}: format {manifest.get('format')!r} is not {BUNDLE_FORMAT}")
    try:
        check_smear_views(manifest.get("test_time_smear_px", NO_SMEAR_PX))
        check_ensemble_temperature(manifest.get("ensemble_temperature", 1.0))
    except ValueError as error:
        raise BundleError(f"bundle {path}: {error}") from None


def _check_int8(manifest: dict[str, Any], path: Path) -> None:
    try:
        check_int8_record(manifest["int8"], manifest["sha256"])
    except ValueError as error:
        raise BundleError(f"bundle {path}: {error}") from None


def load_bundle(directory: str | Path) -> Bundle:
    """Load and verify a bundle directory (checksum, classes, grid, preprocessing, weights)."""
    directory = Path(directory)
    manifest_path, weights = directory / MANIFEST_FILE, directory / WEIGHTS_FILE
    for required in (manifest_path, weights):
        if not required.is_file():
            raise BundleError(f"bundle {directory}: missing {required.name}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise BundleError(f"bundle {directory}: manifest.json is not valid JSON ({error})") from None
    _check_contract(manifest, directory)
    actual = file_sha256(weights)
    if actual != manifest.get("sha256"):
        raise BundleError(f"bundle {directory}: sha256 of {WEIGHTS_FILE} is {actual}, manifest says {manifest.get('sha256')}")
    if "int8" in manifest:
        _check_int8(manifest, directory)
    tensors = load_file(str(weights))
    ood = None
    if manifest.get("ood"):
        ood = _load_ood(manifest["ood"], tensors, directory)
    model = build_model(manifest["architecture"], **manifest.get("architecture_kwargs", {}))
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise BundleError(f"bundle {directory}: weights do not fit {manifest['architecture']} (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return Bundle(model.eval(), manifest, directory, ood)
