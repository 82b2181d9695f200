"""Simulate training batches on the fly, with the same interface as the shard reader."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch

from xicam_gisaxs_cnn.classes import NUM_CLASSES

from ..simulation import SimulationConfig, canonical_exit_angles, sample_parameters, simulate
from .batch import Batch, check_batch_size, worker_slot


def seed_for(*keys: int) -> int:
    """A 32-bit seed drawn from ``numpy.random.SeedSequence(keys)``: independent streams per key tuple."""
    return int(np.random.SeedSequence([int(key) for key in keys]).generate_state(1)[0])


def balanced_labels(count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` class indices, each class ``count // NUM_CLASSES`` or one more times, in random order."""
    return (torch.arange(count) % NUM_CLASSES)[torch.randperm(count, generator=generator)]


def simulate_batch(
    labels: torch.Tensor,
    *,
    config: SimulationConfig,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> Batch:
    """Sample parameters for ``labels`` and simulate them into a :class:`Batch` on ``device``.

    Masks are False below the sample horizon (exit angle < 0 at the nominal
    geometry), where the simulator returns no scattering, and True elsewhere.
    """
    params = sample_parameters(labels, config, generator)
    images = simulate(params, config=config, device=device)[:, None]
    above_horizon = torch.from_numpy(canonical_exit_angles(config)[0] >= 0).to(images.device)
    masks = above_horizon.expand(images.shape).clone()
    return Batch(images.to(torch.float32), masks, labels.to(images.device), params)


class SimulatedDataset(torch.utils.data.IterableDataset):
    """An endless supply of fresh simulated batches, ``batches_per_epoch`` at a time.

    Parameters
    ----------
    config : SimulationConfig, optional
        Parameter ranges of the simulator; its defaults when omitted.
    batch_size : int
        Patterns per batch; classes are balanced within each batch.
    batches_per_epoch : int
        Length of one epoch.
    seed : int
        Batch ``b`` of epoch ``e`` is drawn from ``seed_for(seed, e, b)``, so the
        data do not depend on the number of workers or ranks.
    device : str or torch.device
        Where to simulate; batches stay there (use ``num_workers=0`` with CUDA).
    rank, world_size : int
        As for :class:`~xicam_gisaxs_cnn_trainer.datasets.ShardDataset`.
    batch_function : callable, optional
        ``f(labels, config=, generator=, device=) -> Batch``: :func:`simulate_batch` by
        default; ``realistic.randomise.simulate_scaled_batch`` spans lattice scales.
    """

    def __init__(
        self,
        config: SimulationConfig | None = None,
        *,
        batch_size: int,
        batches_per_epoch: int,
        seed: int,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
        batch_function: Callable[..., Batch] | None = None,
    ) -> None:
        super().__init__()
        self.config = SimulationConfig() if config is None else config
        self.batch_function = simulate_batch if batch_function is None else batch_function
        self.batch_size = check_batch_size(batch_size)
        if isinstance(batches_per_epoch, bool) or int(batches_per_epoch) != batches_per_epoch or batches_per_epoch < 1:
            raise ValueError(f"batches_per_epoch must be a positive integer, got {batches_per_epoch!r}")
        self.batches_per_epoch = int(batches_per_epoch)
        self.seed = int(seed)
        self.device = device
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration simulates."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches per epoch over all ranks and workers together."""
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[Batch]:
        slot, slots = worker_slot(rank=self.rank, world_size=self.world_size)
        for number in range(slot, self.batches_per_epoch, slots):
            generator = torch.Generator().manual_seed(seed_for(self.seed, self.epoch, number))
            labels = balanced_labels(self.batch_size, generator)
            yield self.batch_function(labels, config=self.config, generator=generator, device=self.device)
