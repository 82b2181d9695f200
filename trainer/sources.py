"""Training and validation data from a spec: on-the-fly simulation, HDF5 shards, or HipGISAXS outputs.

Specs: ``simulate``, ``simulate-scaled`` (lattices at scales 0.35-8x rendered on a
window shrunk as much, with energy and incidence drawn per pattern: the training
spans the lattice constants of real films), ``shards:DIR``, ``hipgisaxs:DIR``
(with a class mapping). With ``simulate-scaled``, training batches may also carry
films of no class (``outliers``, :mod:`.realistic.outliers`); validation never does.
Shards and HipGISAXS folders are split 5:1 (train:validation), stratified over
class and in-plane direction, as the paper did.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from .datasets.batch import Batch
from .datasets.onthefly import SimulatedDataset
from .datasets.shards import ShardDataset
from .datasets.splits import stratified_split
from .hipgisaxs import HipGISAXSFolder
from .realistic.outliers import outliers_per_batch, with_outliers
from .realistic.randomise import simulate_scaled_batch
from .simulation import SimulationConfig


@dataclass
class DataSources:
    """The training stream (re-iterable per epoch, ``set_epoch`` aware), the fixed validation set, and provenance."""

    train: torch.utils.data.IterableDataset
    validation: torch.utils.data.IterableDataset
    description: dict


def _shards(folder: str, *, batch_size: int, seed: int, rank: int, world_size: int) -> DataSources:
    everything = ShardDataset(folder, batch_size=batch_size)
    labels = everything.read("labels")
    directions = everything.read("params/in_plane_direction")
    split = stratified_split(labels, directions, seed=seed)
    common = {"batch_size": batch_size, "rank": rank, "world_size": world_size}
    return DataSources(
        ShardDataset(folder, indices=split.train, shuffle=True, seed=seed, drop_last=True, **common),
        ShardDataset(folder, indices=split.test, **common),
        {"source": f"shards:{folder}", "train_samples": int(split.train.size), "validation_samples": int(split.test.size),
         "simulator_version": everything.simulator_version, "config": everything.config},
    )


def _hipgisaxs(folder: str, mapping_path: str | None, *, batch_size: int, seed: int, rank: int, world_size: int) -> DataSources:
    if mapping_path is None:
        raise ValueError("hipgisaxs data needs --mapping JSON (glob pattern -> class name)")
    mapping = json.loads(Path(mapping_path).read_text())
    everything = HipGISAXSFolder(folder, mapping, batch_size=batch_size)
    split = stratified_split(everything.labels, np.zeros_like(everything.labels), seed=seed)
    common = {"batch_size": batch_size, "rank": rank, "world_size": world_size}
    train = HipGISAXSFolder(folder, mapping, indices=split.train, shuffle=True, seed=seed, **common)
    validation = HipGISAXSFolder(folder, mapping, indices=split.test, **common)
    return DataSources(train, validation, {"source": f"hipgisaxs:{folder}", "mapping": mapping,
                                            "train_samples": int(split.train.size), "validation_samples": int(split.test.size)})


def make_sources(
    spec: str,
    *,
    batch_size: int,
    batches_per_epoch: int,
    validation_batches: int,
    seed: int,
    config: SimulationConfig | None = None,
    mapping: str | None = None,
    device: str = "cpu",
    rank: int = 0,
    world_size: int = 1,
    outliers: float = 0.0,
) -> DataSources:
    """Build the data sources named by ``spec`` (see the module docstring).

    ``outliers`` > 0 adds that fraction of films of no class to every training batch
    (``simulate-scaled`` only).
    """
    kind, _, location = spec.partition(":")
    if outliers and kind != "simulate-scaled":
        raise ValueError(f"films of no class (outliers) are simulated on the scaled windows: use --data simulate-scaled, not {spec!r}")
    if kind in ("simulate", "simulate-scaled"):
        config = config or SimulationConfig()
        batch_function = simulate_scaled_batch if kind == "simulate-scaled" else None
        common = {"config": config, "batch_size": batch_size, "device": device, "rank": rank, "world_size": world_size}
        training = with_outliers(batch_function, outliers) if outliers else batch_function
        return DataSources(
            SimulatedDataset(batches_per_epoch=batches_per_epoch, seed=seed, batch_function=training, **common),
            SimulatedDataset(batches_per_epoch=validation_batches, seed=seed + 1_000_003, batch_function=batch_function, **common),
            {"source": kind, "train_samples_per_epoch": batch_size * batches_per_epoch,
             "validation_samples": batch_size * validation_batches, "config": config.to_dict(),
             **({"outliers_per_batch": outliers_per_batch(outliers, batch_size)} if outliers else {})},
        )
    if not location:
        raise ValueError(f"data spec {spec!r} needs a folder, e.g. shards:DIR or hipgisaxs:DIR")
    common = {"batch_size": batch_size, "seed": seed, "rank": rank, "world_size": world_size}
    if kind == "shards":
        return _shards(location, **common)
    if kind == "hipgisaxs":
        return _hipgisaxs(location, mapping, **common)
    raise ValueError(f"unknown data spec {spec!r}; expected simulate, simulate-scaled, shards:DIR or hipgisaxs:DIR")


def batches(dataset: torch.utils.data.IterableDataset, *, workers: int = 0) -> Iterable[Batch]:
    """Iterate a dataset's batches through a DataLoader with ``workers`` processes."""
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers, persistent_workers=False)
