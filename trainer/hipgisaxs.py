"""Read HipGISAXS outputs onto the canonical grid, with labels from a user mapping.

Two formats:

* the ASCII ``.out`` image of HipGISAXS 1.x: whitespace (tab) separated
  intensities, one row per qz with row 0 the *highest* qz, columns from the
  lowest to the highest qy. The file holds no q values: pass
  ``qlims=(qy_min, qy_max, qz_min, qz_max)`` or put a sidecar
  ``<stem>.json`` beside it holding ``{"qlims": [qy_min, qy_max, qz_min, qz_max]}``;
* the HDF5 output of hipgisaxs-2.0: dataset ``gisaxs`` (detector rows, row 0
  the *lowest* qz, as its detector counts rows upwards) with the attribute
  ``qlims = [qp_min, qp_max, qz_min, qz_max]``.

All q values are in nm^-1 and name the centres of the outer pixels; pixels
are taken as evenly spaced in q between them (exact for HipGISAXS's q-space
output region; a flat detector of hipgisaxs-2.0 departs from even spacing by
about 0.1 % at 2 degrees from the beam, the edge of the canonical window at
10 keV). Canonical pixels outside the file's
q range, or fed by non-finite values, are masked out.
"""
from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple, Sequence

import h5py
import numpy as np
import torch

from xicam_gisaxs_cnn.canonical import IMAGE_SIZE, qy_nm, qz_nm
from xicam_gisaxs_cnn.classes import class_index

from .datasets.batch import Batch, check_batch_size, check_indices, epoch_batches, worker_slot

HDF5_DATASET: str = "gisaxs"
"""Name of the image dataset in hipgisaxs-2.0 HDF5 output."""

QLIMS_ATTRIBUTE: str = "qlims"
"""Attribute (HDF5) and sidecar key (``.out``) holding ``[qy_min, qy_max, qz_min, qz_max]`` in nm^-1."""

SUFFIXES: tuple[str, ...] = (".out", ".h5", ".hdf5")
"""File name endings read as HipGISAXS outputs."""


class CanonicalFrame(NamedTuple):
    """One pattern on the canonical grid: ``image`` (125, 125) float64 and ``mask`` (125, 125) bool."""

    image: np.ndarray
    mask: np.ndarray


def check_qlims(qlims: Sequence[float], name: str = "qlims") -> tuple[float, float, float, float]:
    """Return ``(qy_min, qy_max, qz_min, qz_max)`` as floats after checking them (nm^-1)."""
    values = np.asarray(qlims, dtype=np.float64).ravel()
    if values.size != 4:
        raise ValueError(f"{name} must hold 4 values [qy_min, qy_max, qz_min, qz_max] in nm^-1, got {list(values)}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite, got {list(values)}")
    qy_min, qy_max, qz_min, qz_max = (float(value) for value in values)
    if not (qy_min < qy_max and qz_min < qz_max):
        raise ValueError(f"{name} must have qy_min < qy_max and qz_min < qz_max, got {list(values)}")
    return qy_min, qy_max, qz_min, qz_max


def resample_to_canonical(image: np.ndarray, *, qlims: Sequence[float]) -> CanonicalFrame:
    """Resample an image evenly spaced in q onto the canonical 125 x 125 grid.

    Parameters
    ----------
    image : (rows, columns) array
        Intensities; row 0 holds the highest qz, column 0 the lowest qy (the
        canonical orientation). At least 2 x 2 pixels.
    qlims : sequence of 4 floats
        ``(qy_min, qy_max, qz_min, qz_max)`` of the outer pixel centres, nm^-1.

    Returns
    -------
    CanonicalFrame
        ``image`` (125, 125) float64, 0 where masked; ``mask`` True where the
        canonical pixel centre lies inside the file's q range and every source
        pixel it draws on is finite.

    Notes
    -----
    Along each axis a canonical pixel takes a tent-weighted mean of the source
    pixels within one pixel spacing ``w = max(source spacing, canonical
    spacing)``: linear interpolation where the source is coarser than the grid,
    an anti-aliasing average where it is finer, so a sharp peak keeps its
    weight instead of falling between samples.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"image must be a 2-D array of at least 2 x 2 pixels, got shape {image.shape}")
    qy_min, qy_max, qz_min, qz_max = check_qlims(qlims)
    source_qy = np.linspace(qy_min, qy_max, image.shape[1])
    source_qz = np.linspace(qz_max, qz_min, image.shape[0])
    columns, columns_inside = _resampling_matrix(source_qy, qy_nm())
    rows, rows_inside = _resampling_matrix(source_qz, qz_nm())
    if not columns_inside.any() or not rows_inside.any():
        raise ValueError(
            f"qlims {[qy_min, qy_max, qz_min, qz_max]} nm^-1 does not overlap the canonical window "
            f"qy [{qy_nm()[0]}, {qy_nm()[-1]}], qz [{qz_nm()[-1]}, {qz_nm()[0]}] nm^-1"
        )
    finite = np.isfinite(image)
    coverage = rows @ finite.astype(np.float64) @ columns.T
    values = rows @ np.where(finite, image, 0.0) @ columns.T
    mask = rows_inside[:, None] & columns_inside[None, :] & (coverage > 1.0 - 1e-9)
    return CanonicalFrame(np.where(mask, values, 0.0), mask)


def _resampling_matrix(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tent weights ``(len(target), len(source))`` with unit row sums, and which targets lie inside."""
    width = max(abs(source[1] - source[0]), abs(target[1] - target[0]))
    weights = np.clip(1.0 - np.abs(target[:, None] - source[None, :]) / width, 0.0, None)
    low, high = min(source[0], source[-1]), max(source[0], source[-1])
    tolerance = 1e-9 * width
    inside = (target >= low - tolerance) & (target <= high + tolerance)
    weights[~inside] = 0.0
    totals = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0), inside


def read_out(path: str | os.PathLike, *, qlims: Sequence[float] | None = None) -> CanonicalFrame:
    """Read a HipGISAXS ASCII ``.out`` image onto the canonical grid.

    Parameters
    ----------
    path : path-like
        The ``.out`` file (row 0 = highest qz).
    qlims : sequence of 4 floats, optional
        ``(qy_min, qy_max, qz_min, qz_max)`` in nm^-1. Needed unless a sidecar
        ``<stem>.json`` gives them; when both are given they must agree.
    """
    path = Path(path)
    sidecar = path.with_suffix(".json")
    from_sidecar = _sidecar_qlims(sidecar) if sidecar.is_file() else None
    if qlims is None and from_sidecar is None:
        raise ValueError(f"{path} holds no q range: pass qlims or write {sidecar.name} with a {QLIMS_ATTRIBUTE!r} list")
    if qlims is not None and from_sidecar is not None and not np.allclose(check_qlims(qlims), from_sidecar):
        raise ValueError(f"qlims {list(qlims)} given for {path} do not match {list(from_sidecar)} in {sidecar.name}")
    try:
        image = np.loadtxt(path, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{path} is not a table of numbers: {error}") from error
    return resample_to_canonical(image, qlims=from_sidecar if qlims is None else qlims)


def _sidecar_qlims(sidecar: Path) -> tuple[float, float, float, float]:
    try:
        content = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"sidecar {sidecar} is not JSON: {error}") from error
    if not isinstance(content, dict) or QLIMS_ATTRIBUTE not in content:
        raise ValueError(f"sidecar {sidecar} has no {QLIMS_ATTRIBUTE!r} entry")
    return check_qlims(content[QLIMS_ATTRIBUTE], f"{QLIMS_ATTRIBUTE} in {sidecar.name}")


def read_hdf5(path: str | os.PathLike, *, dataset: str = HDF5_DATASET) -> CanonicalFrame:
    """Read a hipgisaxs-2.0 HDF5 output (dataset ``gisaxs``, attribute ``qlims``) onto the canonical grid."""
    path = Path(path)
    with h5py.File(path, "r") as file:
        if dataset not in file or not isinstance(file[dataset], h5py.Dataset):
            raise ValueError(f"{path} has no dataset {dataset!r}; it holds {sorted(file.keys())}")
        node = file[dataset]
        if QLIMS_ATTRIBUTE not in node.attrs:
            raise ValueError(f"dataset {dataset!r} in {path} has no attribute {QLIMS_ATTRIBUTE!r}")
        qlims = check_qlims(node.attrs[QLIMS_ATTRIBUTE], f"{QLIMS_ATTRIBUTE} of {path}")
        image = node[()]
    if np.iscomplexobj(image) or not np.issubdtype(image.dtype, np.number):
        raise ValueError(f"dataset {dataset!r} in {path} must hold real numbers, got dtype {image.dtype}")
    if image.ndim != 2:
        raise ValueError(f"dataset {dataset!r} in {path} must be 2-D, got shape {image.shape}")
    return resample_to_canonical(image[::-1], qlims=qlims)


def read_hipgisaxs(path: str | os.PathLike, *, qlims: Sequence[float] | None = None) -> CanonicalFrame:
    """Read either format by its file name ending; ``qlims`` is used by ``.out`` files only."""
    suffix = Path(path).suffix.lower()
    if suffix == ".out":
        return read_out(path, qlims=qlims)
    if suffix in (".h5", ".hdf5"):
        return read_hdf5(path)
    raise ValueError(f"{path} is not a HipGISAXS output; expected a name ending in {', '.join(SUFFIXES)}")


def label_files(root: str | os.PathLike, mapping: Mapping[str, str]) -> list[tuple[Path, int]]:
    """The HipGISAXS outputs under ``root`` that ``mapping`` labels, with their class indices.

    Parameters
    ----------
    root : path-like
        Folder searched recursively for ``.out``, ``.h5`` and ``.hdf5`` files.
    mapping : mapping of str to str
        Glob pattern (matched against the path relative to ``root``, ``/``
        separated, and against the bare file name) to class name, e.g.
        ``{"bcc110/*": "BCC110", "*_fcc111_*.out": "FCC111"}``.

    Returns
    -------
    list of (Path, int)
        Labelled files in sorted order; files no pattern matches are left out.
        Raises ValueError for an unknown class name, a pattern that matches no
        file, or a file that patterns give two different classes.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root {root} is not a folder")
    if not mapping:
        raise ValueError("mapping is empty; give at least one pattern -> class name")
    classes = {}
    for pattern, name in mapping.items():
        try:
            classes[pattern] = class_index(name)
        except ValueError as error:
            raise ValueError(f"mapping {pattern!r} -> {name!r}: {error}") from error
    files = sorted(path for path in root.rglob("*") if path.is_file() and path.suffix.lower() in SUFFIXES)
    labelled = []
    used = set()
    for path in files:
        relative = path.relative_to(root).as_posix()
        matches = {
            pattern: index for pattern, index in classes.items()
            if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(path.name, pattern)
        }
        used.update(matches)
        if len(set(matches.values())) > 1:
            raise ValueError(f"file {relative} matches patterns of different classes: {sorted(matches)}")
        if matches:
            labelled.append((path, next(iter(matches.values()))))
    unused = [pattern for pattern in mapping if pattern not in used]
    if unused:
        raise ValueError(f"mapping patterns match no HipGISAXS output under {root}: {unused}")
    return labelled


class HipGISAXSFolder(torch.utils.data.IterableDataset):
    """Stream :class:`~xicam_gisaxs_cnn_trainer.datasets.Batch` objects from a folder of HipGISAXS outputs.

    Parameters
    ----------
    root : path-like
        Folder of ``.out`` / ``.h5`` / ``.hdf5`` files (searched recursively).
    mapping : mapping of str to str
        Glob pattern to class name; see :func:`label_files`.
    batch_size : int
        Files per batch.
    qlims : sequence of 4 floats, optional
        q range of ``.out`` files that have no sidecar, nm^-1.
    indices : (M,) int array, optional
        Which of :attr:`files` (sorted, with :attr:`labels`) to use, e.g. one
        side of a stratified split; all when omitted.
    shuffle, seed, drop_last, rank, world_size
        As for :class:`~xicam_gisaxs_cnn_trainer.datasets.ShardDataset`.

    Notes
    -----
    ``params["file_index"]`` of a batch indexes :attr:`files`.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        mapping: Mapping[str, str],
        *,
        batch_size: int,
        qlims: Sequence[float] | None = None,
        indices: np.ndarray | Sequence[int] | None = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        labelled = label_files(root, mapping)
        self.files = [path for path, _ in labelled]
        self.labels = np.array([index for _, index in labelled], dtype=np.int64)
        self.indices = check_indices(indices, len(self.files), what="files")
        self.qlims = None if qlims is None else check_qlims(qlims)
        self.batch_size = check_batch_size(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration follows."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches per epoch over all ranks and workers together."""
        full, rest = divmod(self.indices.size, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Batch]:
        slot, slots = worker_slot(rank=self.rank, world_size=self.world_size)
        batches = epoch_batches(
            self.indices.size, self.batch_size,
            shuffle=self.shuffle, seed=self.seed, epoch=self.epoch, drop_last=self.drop_last,
        )
        for batch in batches[slot::slots]:
            positions = self.indices[batch]
            frames = [read_hipgisaxs(self.files[position], qlims=self.qlims) for position in positions]
            images = np.stack([frame.image for frame in frames]).astype(np.float32)
            masks = np.stack([frame.mask for frame in frames])
            yield Batch(
                torch.from_numpy(images).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE),
                torch.from_numpy(masks).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE),
                torch.from_numpy(self.labels[positions]),
                {"file_index": torch.from_numpy(positions.astype(np.int64))},
            )
