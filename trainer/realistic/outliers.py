"""Films of no superlattice class mixed into training batches: outlier exposure (Hendrycks et al., ICLR 2019).

A model trained only on the seven classes gives every frame one of them, confidently,
empty or not. Outlier exposure adds films of no class to each training batch with the
label :data:`OUTLIER_LABEL`; the trainer pushes their class probabilities towards uniform
(:func:`outlier_exposure_loss`), so the model's embedding of such films moves away from
the classes' and the OOD score rises on them.

Kinds (:data:`OUTLIER_KINDS`), drawn in turn, each on the scaled window of
:func:`.randomise.simulate_scaled_batch` with its own scale, energy and incidence angle:

- ``disordered``: a class's lattice with Debye-Waller displacements of
  :data:`DISORDERED_DEBYE_WALLER_FRACTION` of the nearest-neighbour distance (no Bragg
  rods left; training classes stay below 0.06);
- ``monolayer``: a 2-D powder monolayer of spheres, hexagonal or square, rods without
  vertical modulation (:func:`.frames.monolayer_intensity`) times the substrate's |t(alpha_f)|^2;
- ``empty``: nothing: the randomiser's background, Yoneda band, specular rod and counts only.

These are generator families, not the evaluation's frames: the realistic evaluation
draws its disordered (FCC111 at 0.5), monolayer (hexagonal) and empty frames on a
detector with seeds of its own.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch

from xicam_gisaxs_cnn.canonical import IMAGE_SIZE, pixel_size_nm
from xicam_gisaxs_cnn.classes import NUM_CLASSES
from xicam_gisaxs_cnn.frames.resample import canonical_axes_nm

from ..datasets.batch import Batch
from ..simulation import SimulationConfig
from .frames import monolayer_intensity, transmission_squared
from .randomise import render_scaled, sample_scaled_parameters, scaled_exit_angles

OUTLIER_LABEL: int = -1
"""Label of a film of no class in a training batch."""

OUTLIER_KINDS: tuple[str, ...] = ("disordered", "monolayer", "empty")
"""Films of no class put into training batches, in the order they are dealt."""

DISORDERED_DEBYE_WALLER_FRACTION: tuple[float, float] = (0.3, 0.6)
"""Displacement of disordered films, fraction of the nearest-neighbour distance."""

MONOLAYER_GRAIN_CELLS: tuple[float, float] = (20.0, 200.0)
"""Grain size of monolayers, lattice spacings (sets the rods' width)."""


def outlier_batch(
    count: int,
    *,
    config: SimulationConfig,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> Batch:
    """``count`` films of no class, the kinds of :data:`OUTLIER_KINDS` dealt in turn, labels :data:`OUTLIER_LABEL`.

    Params are those of :func:`.randomise.simulate_scaled_batch` (``window_scale``,
    ``energy_kev``, ``alpha_i_deg`` per film), so the randomiser treats them alike.
    """
    if isinstance(count, bool) or int(count) != count or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    kinds = np.resize(np.arange(len(OUTLIER_KINDS)), int(count))
    classes = torch.randint(NUM_CLASSES, (int(count),), generator=generator)
    disordered = dataclasses.replace(config, debye_waller_fraction_range=DISORDERED_DEBYE_WALLER_FRACTION)
    params = sample_scaled_parameters(classes, config=disordered, generator=generator)
    images = torch.zeros(int(count), 1, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.float32, device=device)
    alpha_f, _ = scaled_exit_angles(params)
    rows = np.flatnonzero(kinds == OUTLIER_KINDS.index("disordered"))
    if rows.size:
        chosen = {name: value[rows] for name, value in params.items()}
        images[torch.from_numpy(rows).to(device)] = render_scaled(chosen, config=disordered, device=device)[0]
    for row in np.flatnonzero(kinds == OUTLIER_KINDS.index("monolayer")):
        images[int(row), 0] = torch.from_numpy(_monolayer(params, int(row), alpha_f[row], generator)).to(device)
    masks = torch.from_numpy(alpha_f >= 0)[:, None]
    labels = torch.full((int(count),), OUTLIER_LABEL, dtype=torch.int64)
    return Batch(images, masks, labels, params).to(device)


def _monolayer(params: dict[str, torch.Tensor], row: int, alpha_f_deg: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """One monolayer at the pattern's scale, energy and lattice spacing, (125, 125)."""
    scale = float(params["window_scale"][row])
    qy, qz = canonical_axes_nm(scale)  # a row of qy and a column of qz: the rods, which follow qy alone, on 125 values
    draws = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
    spacing = float(params["nn_distance_nm"][row])
    low, high = (math.log(v) for v in MONOLAYER_GRAIN_CELLS)
    cells = math.exp(low + (high - low) * draws[0])
    width = math.hypot(2 * math.pi / (cells * spacing), pixel_size_nm()[0] / scale)
    intensity = monolayer_intensity(qy[None, :], qz[:, None], nn_distance_nm=spacing, radius_nm=spacing * (0.3 + 0.15 * draws[1]),
                                    width_nm=width, lattice="hexagonal" if draws[2] < 0.5 else "square")
    transmission = transmission_squared(np.clip(alpha_f_deg, 0, None), float(params["energy_kev"][row]))
    return np.where(alpha_f_deg >= 0, intensity * transmission, 0.0)


def outliers_per_batch(fraction: float, batch_size: int) -> int:
    """Films of no class :func:`with_outliers` adds to a batch of ``batch_size``: ``round(fraction x batch_size)``, at least 1."""
    return max(1, round(fraction * batch_size))


def with_outliers(batch_function: Callable[..., Batch], fraction: float) -> Callable[..., Batch]:
    """``batch_function`` whose batches gain ``round(fraction x N)`` films of no class (at least one).

    The wrapped function takes and returns what :func:`.randomise.simulate_scaled_batch`
    does; the outliers follow the superlattices in the batch.
    """
    if not (math.isfinite(fraction) and 0 < fraction <= 1):
        raise ValueError(f"the outlier fraction must be in (0, 1], got {fraction}")

    def batch_with_outliers(labels: torch.Tensor, *, config: SimulationConfig, generator: torch.Generator,
                            device: torch.device | str = "cpu") -> Batch:
        films = batch_function(labels, config=config, generator=generator, device=device)
        outliers = outlier_batch(outliers_per_batch(fraction, labels.numel()), config=config, generator=generator,
                                 device=device)
        return concatenated(films.to(device), outliers)  # the films' params are drawn on the CPU

    return batch_with_outliers


def concatenated(first: Batch, second: Batch) -> Batch:
    """One batch of ``first``'s patterns then ``second``'s; params are kept where both have them."""
    shared = first.params.keys() & second.params.keys()
    return Batch(torch.cat([first.images, second.images]), torch.cat([first.masks, second.masks]),
                 torch.cat([first.labels, second.labels]),
                 {name: torch.cat([first.params[name], second.params[name]]) for name in sorted(shared)})


def outlier_exposure_loss(logits: torch.Tensor, labels: torch.Tensor, *, weight: float) -> torch.Tensor:
    """Cross-entropy on the labelled rows plus ``weight`` x the cross-entropy to the uniform distribution
    on the rows labelled :data:`OUTLIER_LABEL` (each term averaged over its own rows)."""
    inliers = labels != OUTLIER_LABEL
    loss = torch.nn.functional.cross_entropy(logits[inliers], labels[inliers]) if bool(inliers.any()) else logits.sum() * 0
    if bool((~inliers).any()):
        loss = loss - weight * torch.log_softmax(logits[~inliers], dim=1).mean()
    return loss
