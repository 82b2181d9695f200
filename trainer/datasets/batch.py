"""The one batch type every data source yields, and how batches are dealt to workers.

Shards on disk, on-the-fly simulation and folders of HipGISAXS outputs all yield
:class:`Batch` objects, already batched, so a ``torch.utils.data.DataLoader``
wraps any of them with ``batch_size=None``. Each epoch's batches are dealt
round-robin over every DataLoader worker of every distributed rank, so each
sample is seen exactly once per epoch.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Batch(NamedTuple):
    """A batch of canonical patterns.

    Attributes
    ----------
    images : (N, 1, 125, 125) float32 tensor
        Intensities on the canonical grid (arbitrary units, >= 0 where valid).
    masks : (N, 1, 125, 125) bool tensor
        True where the pixel holds data.
    labels : (N,) int64 tensor
        Class indices into :data:`xicam_gisaxs_cnn.classes.CLASS_NAMES`.
    params : dict of str to tensor
        Per-sample values, each of shape (N,) or (N, k): the simulator's sampled
        parameters for simulated data, ``"file_index"`` for files read from disk.
    """

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    params: dict[str, torch.Tensor]

    def to(self, device: torch.device | str) -> "Batch":
        """The same batch with every tensor moved to ``device``."""
        return Batch(
            self.images.to(device),
            self.masks.to(device),
            self.labels.to(device),
            {name: value.to(device) for name, value in self.params.items()},
        )


def check_batch_size(batch_size: int) -> int:
    """Return ``batch_size`` as an int after checking it is a positive integer."""
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def check_indices(indices: np.ndarray | None, total: int, *, what: str) -> np.ndarray:
    """``indices`` as a 1-D int64 array of distinct values in ``[0, total)``; all of them when None.

    ``what`` names the items in errors ("samples", "files").
    """
    if indices is None:
        return np.arange(total)
    chosen = np.asarray(indices, dtype=np.int64)
    if chosen.ndim != 1 or (chosen.size and (chosen.min() < 0 or chosen.max() >= total)):
        raise ValueError(f"indices must be a 1-D array of {what[:-1]} indices in [0, {total})")
    if np.unique(chosen).size != chosen.size:
        raise ValueError(f"indices holds repeated {what}")
    return chosen


def worker_slot(*, rank: int = 0, world_size: int = 1) -> tuple[int, int]:
    """``(slot, slots)`` of the calling process among all DataLoader workers of all ranks.

    Call it inside ``__iter__``: in the main process (``num_workers=0``) the rank
    counts as one worker.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    info = torch.utils.data.get_worker_info()
    workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
    return rank * workers + worker, world_size * workers


def epoch_batches(
    count: int,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    drop_last: bool = False,
) -> list[np.ndarray]:
    """Positions ``0..count-1`` cut into batches, shuffled by ``(seed, epoch)`` when asked.

    Returns
    -------
    list of int64 arrays
        Together they hold every position exactly once (less the short last
        batch when ``drop_last``).
    """
    batch_size = check_batch_size(batch_size)
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(count)
    else:
        order = np.arange(count)
    stop = count - count % batch_size if drop_last else count
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]
