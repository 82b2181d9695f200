"""Data echoing: train on each epoch of simulated batches several times, augmented afresh each time.

On the 2-core CPU the simulator makes about 50 patterns/s while the compact network
trains at about 600 patterns/s (one thread); on a GPU the simulation also bounds
training (docs/benchmarks.md). Echoing repeats the upstream stage's output before
the augmentation stage, as in Choi et al., "Faster neural network training with data
echoing" (arXiv:1907.05550, 2019): every batch is simulated once per cycle of
``echoes`` epochs and, each time it is trained on, mirrored, randomised (detector
masks, background, counts) and degraded (smear, noise, resolution) with fresh draws
in the training loop. Each echo after the first serves the cycle's batches in a new
order.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import torch

from .batch import Batch
from .onthefly import seed_for


class EchoedBatches:
    """The training batches of each epoch, the data simulated (or read) once per ``echoes`` epochs.

    Parameters
    ----------
    dataset : torch.utils.data.IterableDataset
        A ``set_epoch``-aware batch source (:class:`~.onthefly.SimulatedDataset`,
        :class:`~.shards.ShardDataset`, ...). Epoch ``e`` of training reads its epoch
        ``e // echoes``.
    echoes : int
        How many epochs train on the same batches (1: no echoing, nothing kept).
    seed : int
        Seeds the order of each echo after the first.
    loader : callable
        ``loader(dataset) -> iterable of Batch``, e.g. a DataLoader with worker processes.

    Each cycle's batches are kept in memory (for batches of 64 canonical patterns,
    about 5 MB each) until the next cycle starts.
    """

    def __init__(self, dataset: torch.utils.data.IterableDataset, *, echoes: int, seed: int,
                 loader=iter) -> None:
        if isinstance(echoes, bool) or int(echoes) != echoes or echoes < 1:
            raise ValueError(f"echoes must be an integer >= 1, got {echoes!r}")
        self.dataset = dataset
        self.echoes = int(echoes)
        self.seed = int(seed)
        self.loader = loader
        self._cycle: int | None = None
        self._kept: list[Batch] = []

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.dataset)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        """The batches to train on in ``epoch``: fresh ones in the first epoch of a cycle, the kept ones in a new order after."""
        cycle, echo = divmod(int(epoch), self.echoes)
        if self.echoes == 1:
            self.dataset.set_epoch(epoch)
            yield from self.loader(self.dataset)
            return
        if cycle != self._cycle:
            self._cycle, self._kept = None, []
            self.dataset.set_epoch(cycle)
            if echo == 0:
                yield from self._keep(self.loader(self.dataset))
                self._cycle = cycle
                return
            self._kept = list(self.loader(self.dataset))  # resumed inside a cycle: the same batches again (seeded)
            self._cycle = cycle
        order = torch.randperm(len(self._kept), generator=torch.Generator().manual_seed(seed_for(self.seed, epoch)))
        for index in order.tolist():
            yield self._kept[index]

    def _keep(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        for batch in batches:
            self._kept.append(batch)
            yield batch
