"""Make a simulated dataset: N patterns per class cut into HDF5 shards, one task per shard.

Each shard is simulated from its own seed, so the dataset is the same whether
its shards are made in one process, by local workers or on a Dask cluster.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch

from xicam_gisaxs_cnn.classes import NUM_CLASSES

from ..simulation import SIMULATOR_VERSION, SimulationConfig
from .batch import check_batch_size
from .onthefly import seed_for, simulate_batch
from .shards import shard_name, write_shard


class ShardTask(NamedTuple):
    """One shard to make: its number, the class index of every pattern, its seed."""

    index: int
    labels: np.ndarray
    seed: int


def plan_shards(*, per_class: int, shard_size: int, seed: int) -> list[ShardTask]:
    """Cut ``per_class`` patterns of every class into shards of ``shard_size`` patterns.

    Classes are shuffled across the whole dataset (by ``seed``), so every shard
    holds a mix of them; shard ``i`` simulates from ``seed_for(seed, i)``.
    """
    if isinstance(per_class, bool) or int(per_class) != per_class or per_class < 1:
        raise ValueError(f"per_class must be a positive integer, got {per_class!r}")
    if isinstance(shard_size, bool) or int(shard_size) != shard_size or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    labels = np.random.default_rng(seed_for(seed)).permutation(np.repeat(np.arange(NUM_CLASSES), int(per_class)))
    count = math.ceil(labels.size / shard_size)
    return [
        ShardTask(index, labels[index * shard_size:(index + 1) * shard_size], seed_for(seed, index))
        for index in range(count)
    ]


def make_shard(
    folder: str | os.PathLike,
    task: ShardTask,
    *,
    config: dict,
    device: str = "cpu",
    batch_size: int = 64,
    num_threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, int]:
    """Simulate one shard and write it to ``folder``; returns its path and pattern count.

    Parameters
    ----------
    folder : path-like
        Dataset folder; the shard is written as ``shard-<index>.h5``.
    task : ShardTask
        From :func:`plan_shards`.
    config : dict
        ``SimulationConfig.to_dict()`` (a plain dict travels to remote workers).
    device : str
        Torch device to simulate on (``"cpu"``, ``"cuda"``).
    batch_size : int
        Patterns simulated at once.
    num_threads : int, optional
        Torch intra-op threads for this process (set it when several workers
        share one machine).
    progress : callable, optional
        Called with the number of patterns finished after every batch.
    """
    batch_size = check_batch_size(batch_size)
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    simulation_config = SimulationConfig.from_dict(config)
    generator = torch.Generator().manual_seed(task.seed)
    labels = torch.as_tensor(task.labels, dtype=torch.int64)
    images, masks, params = [], [], []
    for start in range(0, labels.numel(), batch_size):
        batch = simulate_batch(
            labels[start:start + batch_size], config=simulation_config, generator=generator, device=device
        ).to("cpu")
        images.append(batch.images[:, 0])
        masks.append(batch.masks[:, 0])
        params.append(batch.params)
        if progress is not None:
            progress(batch.labels.numel())
    path = write_shard(
        Path(folder) / shard_name(task.index),
        torch.cat(images),
        labels,
        {name: torch.cat([part[name] for part in params]) for name in params[0]},
        config=simulation_config.to_dict(),
        simulator_version=SIMULATOR_VERSION,
        seed=task.seed,
        masks=torch.cat(masks),
    )
    return path, labels.numel()
