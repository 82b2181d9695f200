"""HDF5 dataset shards: write one, read one back, stream many into the trainer.

Layout of one shard (h5py)::

    /images            float32 (N, 125, 125), chunks of one image, gzip + shuffle
    /masks             bool    (N, 125, 125), True = data (False below the horizon)
    /labels            int64   (N,), indices into the attribute ``class_names``
    /params/<name>     (N,) or (N, k), every sampled simulation parameter
    attrs: format_version, class_names (JSON list), config (SimulationConfig as
           JSON), simulator_version, seed

Images are stored losslessly, so a shard reads back bit for bit.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple, Sequence

import h5py
import numpy as np
import torch

from xicam_gisaxs_cnn.canonical import IMAGE_SIZE
from xicam_gisaxs_cnn.classes import CLASS_NAMES, NUM_CLASSES

from .batch import Batch, check_batch_size, check_indices, epoch_batches, worker_slot

FORMAT_VERSION: int = 1
"""Version of the shard layout above; readers refuse other versions."""

SHARD_PATTERN: str = "shard-*.h5"
"""File names of the shards in a dataset folder."""

_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


class ShardContents(NamedTuple):
    """Everything one shard holds, as numpy arrays (see the module docstring)."""

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    params: dict[str, np.ndarray]
    config: dict
    simulator_version: str
    seed: int


def shard_name(index: int) -> str:
    """File name of shard number ``index`` in a dataset folder."""
    return f"shard-{index:05d}.h5"


def write_shard(
    path: str | os.PathLike,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    params: Mapping[str, np.ndarray | torch.Tensor],
    *,
    config: Mapping,
    simulator_version: str,
    seed: int,
    masks: np.ndarray | torch.Tensor | None = None,
) -> Path:
    """Write one shard; the file appears under ``path`` only once it is complete.

    Parameters
    ----------
    path : path-like
        Destination ``.h5`` file; must not exist yet.
    images : (N, 125, 125) array
        Canonical intensities, stored as float32.
    labels : (N,) int array
        Class indices in ``0 .. NUM_CLASSES - 1``.
    params : mapping of str to (N,) or (N, k) arrays
        Per-sample parameters, stored with their own dtype.
    config : mapping
        The simulation configuration (``SimulationConfig.to_dict()``), stored as JSON.
    simulator_version : str
        Version of the simulator that made the images.
    seed : int
        Seed the shard was simulated from.
    masks : (N, 125, 125) bool array, optional
        True where the image holds data; all True when omitted.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    if path.exists():
        raise ValueError(f"shard {path} already exists; refusing to overwrite it")
    images = _as_numpy(images).astype(np.float32, copy=False)
    count = images.shape[0] if images.ndim == 3 else -1
    if images.shape != (count, IMAGE_SIZE, IMAGE_SIZE) or count == 0:
        raise ValueError(f"images must have shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}) with N > 0, got {images.shape}")
    labels = _as_numpy(labels)
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be {count} integers, got shape {labels.shape} dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise ValueError(f"labels must lie in [0, {NUM_CLASSES}), got range [{labels.min()}, {labels.max()}]")
    masks = np.ones(images.shape, dtype=bool) if masks is None else _as_numpy(masks).astype(bool, copy=False)
    if masks.shape != images.shape:
        raise ValueError(f"masks must have the images' shape {images.shape}, got {masks.shape}")
    arrays = {name: _as_numpy(value) for name, value in params.items()}
    for name, value in arrays.items():
        if value.ndim not in (1, 2) or value.shape[0] != count:
            raise ValueError(f"params[{name!r}] must have shape ({count},) or ({count}, k), got {value.shape}")
    partial = path.with_name(path.name + ".partial")
    with h5py.File(partial, "w") as file:
        file.attrs["format_version"] = FORMAT_VERSION
        file.attrs["class_names"] = json.dumps(list(CLASS_NAMES))
        file.attrs["config"] = json.dumps(dict(config), sort_keys=True)
        file.attrs["simulator_version"] = str(simulator_version)
        file.attrs["seed"] = int(seed)
        image_chunks = (1, IMAGE_SIZE, IMAGE_SIZE)
        file.create_dataset("images", data=images, chunks=image_chunks, **_COMPRESSION)
        file.create_dataset("masks", data=masks, chunks=image_chunks, **_COMPRESSION)
        file.create_dataset("labels", data=labels.astype(np.int64))
        group = file.create_group("params")
        for name, value in arrays.items():
            group.create_dataset(name, data=value)
    partial.rename(path)
    return path


def read_shard(path: str | os.PathLike) -> ShardContents:
    """Read a whole shard into memory (for inspection and tests; training streams)."""
    with _open_shard(path) as file:
        return ShardContents(
            images=file["images"][()],
            masks=file["masks"][()],
            labels=file["labels"][()],
            params={name: dataset[()] for name, dataset in file["params"].items()},
            config=json.loads(file.attrs["config"]),
            simulator_version=str(file.attrs["simulator_version"]),
            seed=int(file.attrs["seed"]),
        )


def find_shards(folder: str | os.PathLike) -> list[Path]:
    """The shard files of a dataset folder, in order; ValueError if there are none."""
    shards = sorted(Path(folder).glob(SHARD_PATTERN))
    if not shards:
        raise ValueError(f"no {SHARD_PATTERN} files in {folder}")
    return shards


class ShardDataset(torch.utils.data.IterableDataset):
    """Stream :class:`Batch` objects from HDF5 shards, every selected sample once per epoch.

    Parameters
    ----------
    paths : sequence of path-like, or one folder
        Shard files, or a folder holding ``shard-*.h5``.
    batch_size : int
        Samples per batch.
    indices : (M,) int array, optional
        Global sample indices to use (shards concatenated in order), e.g. one
        side of :func:`~xicam_gisaxs_cnn_trainer.datasets.splits.stratified_split`;
        all samples when omitted.
    shuffle : bool
        Draw a new order every epoch from ``(seed, epoch)``; see :meth:`set_epoch`.
    seed : int
        Seed of the shuffling.
    drop_last : bool
        Skip the short last batch.
    rank, world_size : int
        This process's place in a ``torch.distributed`` job; batches are dealt
        over all ranks and all DataLoader workers.

    Notes
    -----
    Use it with ``DataLoader(dataset, batch_size=None, num_workers=W)``. HDF5
    files are opened inside each worker, never shared across a fork.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike] | str | os.PathLike,
        *,
        batch_size: int,
        indices: np.ndarray | Sequence[int] | None = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        if isinstance(paths, (str, os.PathLike)):
            paths = find_shards(paths)
        self.paths = [Path(path) for path in paths]
        if not self.paths:
            raise ValueError("paths holds no shard")
        lengths = []
        configs = set()
        for path in self.paths:
            with _open_shard(path) as file:
                lengths.append(file["labels"].shape[0])
                configs.add((file.attrs["config"], str(file.attrs["simulator_version"])))
        if len(configs) > 1:
            raise ValueError(f"shards were made with {len(configs)} different configs or simulator versions")
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        total = int(self.offsets[-1])
        self.indices = check_indices(indices, total, what="samples")
        self.batch_size = check_batch_size(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        config_json, self.simulator_version = configs.pop()
        self.config = json.loads(config_json)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration follows (as ``DistributedSampler``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches per epoch over all ranks and workers together."""
        full, rest = divmod(self.indices.size, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def read(self, name: str) -> np.ndarray:
        """One per-sample dataset (``"labels"`` or ``"params/<name>"``) over all samples, in order."""
        parts = []
        for path in self.paths:
            with _open_shard(path) as file:
                if name not in file:
                    raise ValueError(f"shard {path} has no dataset {name!r}")
                parts.append(file[name][()])
        return np.concatenate(parts)

    def __iter__(self) -> Iterator[Batch]:
        slot, slots = worker_slot(rank=self.rank, world_size=self.world_size)
        batches = epoch_batches(
            self.indices.size, self.batch_size,
            shuffle=self.shuffle, seed=self.seed, epoch=self.epoch, drop_last=self.drop_last,
        )
        files: dict[int, _OpenShard] = {}
        try:
            for positions in batches[slot::slots]:
                yield self._read_batch(self.indices[positions], files)
        finally:
            for shard in files.values():
                shard.file.close()

    def _read_batch(self, indices: np.ndarray, files: dict[int, "_OpenShard"]) -> Batch:
        shard_of = np.searchsorted(self.offsets, indices, side="right") - 1
        images = np.empty((indices.size, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        masks = np.empty((indices.size, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
        labels = np.empty(indices.size, dtype=np.int64)
        params: dict[str, np.ndarray] = {}
        for shard in np.unique(shard_of):
            if shard not in files:
                files[shard] = _OpenShard.open(self.paths[shard])
            opened = files[shard]
            where = np.flatnonzero(shard_of == shard)
            rows = indices[where] - self.offsets[shard]
            order = np.argsort(rows)
            where, rows = where[order], rows[order]
            # Slices over runs of consecutive rows: several times faster than h5py's fancy indexing.
            starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
            for begin, end in zip(starts, np.append(starts[1:], rows.size)):
                block = slice(int(rows[begin]), int(rows[end - 1]) + 1)
                images[where[begin:end]] = opened.file["images"][block]
                masks[where[begin:end]] = opened.file["masks"][block]
            labels[where] = opened.labels[rows]
            for name, values in opened.params.items():
                if name not in params:
                    params[name] = np.empty((indices.size,) + values.shape[1:], dtype=values.dtype)
                params[name][where] = values[rows]
        return Batch(
            torch.from_numpy(images)[:, None],
            torch.from_numpy(masks)[:, None],
            torch.from_numpy(labels),
            {name: torch.from_numpy(value) for name, value in params.items()},
        )


class _OpenShard(NamedTuple):
    """A shard open for streaming: the file (images, masks) and its small per-sample arrays in memory."""

    file: h5py.File
    labels: np.ndarray
    params: dict[str, np.ndarray]

    @classmethod
    def open(cls, path: Path) -> "_OpenShard":
        file = h5py.File(path, "r")
        return cls(file, file["labels"][()], {name: dataset[()] for name, dataset in file["params"].items()})


def _open_shard(path: str | os.PathLike) -> h5py.File:
    """Open a shard for reading after checking its layout; ValueError naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"shard {path} does not exist")
    file = h5py.File(path, "r")
    try:
        version = file.attrs.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"shard {path} has format_version {version}, expected {FORMAT_VERSION}")
        for name in ("images", "masks", "labels", "params"):
            if name not in file:
                raise ValueError(f"shard {path} has no dataset {name!r}")
        names = json.loads(file.attrs["class_names"])
        if names != list(CLASS_NAMES):
            raise ValueError(f"shard {path} has class_names {names}, expected {list(CLASS_NAMES)}")
    except BaseException:
        file.close()
        raise
    return file


def _as_numpy(value: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)
