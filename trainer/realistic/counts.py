"""Accuracy on the model's own training distribution, by total photon counts.

Realistic frames mix two limits: the photons a frame holds and what the model has
learnt. This separates them: one batch of scaled simulations
(:func:`.randomise.simulate_scaled_batch`) goes through the :class:`.randomise.Randomiser`
once per count bin, every sample counted with log10 total counts drawn in that bin,
and each pattern is classified at its true window scale, with no scale to choose
and no degradation mixture. What the model misses at high counts there is the
model's own limit, not the photons'.
"""
from __future__ import annotations

import dataclasses

import torch

from xicam_gisaxs_cnn.classes import NUM_CLASSES, class_index
from xicam_gisaxs_cnn.models import Classifier

from ..simulation import SimulationConfig
from .randomise import RandomisationRanges, Randomiser, simulate_scaled_batch

LOG10_COUNT_BINS: tuple[tuple[float, float], ...] = (
    (1.5, 2.0), (2.0, 2.5), (2.5, 3.0), (3.0, 3.5), (3.5, 4.0), (4.0, 5.0), (5.0, 7.0),
)
"""Bins of log10 total counts per pattern: 30 to 1e7 photons, finer where accuracy changes fast."""


def accuracy_by_counts(
    classifier: Classifier,
    *,
    per_class: int = 60,
    log10_bins: tuple[tuple[float, float], ...] = LOG10_COUNT_BINS,
    seed: int = 5150,
    config: SimulationConfig | None = None,
) -> list[dict]:
    """Accuracy (%) and HCP0001 recall (%) of ``classifier`` in each bin of log10 total counts.

    Parameters
    ----------
    classifier : xicam_gisaxs_cnn.models.Classifier
        The model under test (for example ``load_model("frames")``).
    per_class : int
        Patterns per class; the same patterns are counted in every bin (keyword-only).
    log10_bins : tuple of (float, float)
        (low, high) bins of log10 total counts, low <= high.
    seed : int
        Seeds the simulation; ``seed + 1`` seeds the randomisation.
    config : SimulationConfig, optional
        Lattice parameter ranges at scale 1 (default: the trainer's).

    Returns
    -------
    list of dict
        One per bin: ``log10_counts`` [low, high], ``patterns``, ``accuracy_percent``,
        ``hcp0001_recall_percent``.
    """
    if not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be an integer >= 1, got {per_class!r}")
    if not log10_bins or any(not low <= high for low, high in log10_bins):
        raise ValueError(f"log10_bins must be (low, high) pairs with low <= high, got {log10_bins!r}")
    labels = torch.arange(NUM_CLASSES).repeat_interleave(per_class)
    batch = simulate_scaled_batch(labels, config=config or SimulationConfig(), generator=torch.Generator().manual_seed(seed))
    params = batch.params
    hcp = labels == class_index("HCP0001")
    rows = []
    for low, high in log10_bins:
        ranges = dataclasses.replace(RandomisationRanges(), counts_probability=1.0, log10_counts=(float(low), float(high)))
        images, masks = Randomiser(ranges)(batch.images, batch.masks, torch.Generator().manual_seed(seed + 1),
                                           window_scale=params["window_scale"], energy_kev=params["energy_kev"],
                                           alpha_i_deg=params["alpha_i_deg"])
        predicted = torch.from_numpy(classifier.predict(images[:, 0].numpy(), masks[:, 0].numpy()).class_indices)
        right = predicted == labels
        rows.append({
            "log10_counts": [float(low), float(high)],
            "patterns": int(labels.numel()),
            "accuracy_percent": round(100.0 * float(right.float().mean()), 1),
            "hcp0001_recall_percent": round(100.0 * float(right[hcp].float().mean()), 1),
        })
    return rows

