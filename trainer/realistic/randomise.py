"""Domain randomisation of canonical training batches: what a real detector adds, drawn per sample.

Two parts:

- :func:`simulate_scaled_batch` simulates a batch over a range of window scales,
  energies and incidence angles: each pattern's lattice is s times larger than the
  config's and is rendered on the canonical grid shrunk s-fold (qy in [-1, 1]/s,
  qz in [0, 2]/s nm^-1), exactly what :func:`xicam_gisaxs_cnn.frames.resample` makes
  of a frame with ``window_scale = s``. The lattice looks the same on the grid at
  every scale; the horizon, the Yoneda band and the specular rod move, as they do
  on real frames. The training therefore spans the scales and the inference picks
  one (:mod:`xicam_gisaxs_cnn.frames.scale`).
- :class:`Randomiser` adds to any canonical batch, per sample: a small beam-centre
  error and detector tilt (shift, rotation and zoom of the image), the substrate's
  diffuse scattering with its Yoneda band, the specular rod and peak, parasitic
  scattering around the direct beam, a constant background, Poisson counts
  (1e2-1e7 in total) and the detector's masks: module gaps, beam stop, a horizon
  cut a few rows high and bad cells. It returns new ``(images, masks)``; masked
  pixels are 0 and False, and the model sees the mask as its second input channel
  (:func:`xicam_gisaxs_cnn.preprocess.model_input_torch`).

Every draw comes from the ``torch.Generator`` passed in, so a seed gives the same batch.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from xicam_gisaxs_cnn.canonical import DEFAULT_ALPHA_I_DEG, DEFAULT_ENERGY_KEV, IMAGE_SIZE, pixel_size_nm
from xicam_gisaxs_cnn.degrade_torch import generator_on
from xicam_gisaxs_cnn.frames.resample import canonical_axes_nm
from xicam_gisaxs_cnn.frames.scale import quantise_scale
from xicam_gisaxs_cnn.physics import HC_KEV_NM, silicon_refractive_index

from ..datasets.batch import Batch
from ..json_records import record_from_dict, record_to_dict
from ..simulation import SimulationConfig, sample_parameters, simulate_angles
from ..simulation.fresnel import reflection_coefficient
from ..simulation.geometry import exit_angles_from_q

Range = tuple[float, float]

MAX_HORIZON_QZ_NM: float = 1.4
"""Highest canonical qz of the horizon (s k sin alpha_i), nm^-1: 30 % of the rows stay above it.

Incidence angles are drawn no higher than this allows at each scale and energy
(a 160 nm lattice at scale 8 and 17 keV: alpha_i <= 0.117 degrees)."""

_PILATUS_MODULE_PX = (487, 195)
_PILATUS_GAP_PX = (7, 17)


@dataclasses.dataclass(frozen=True)
class ScaledSimulation:
    """Ranges of :func:`simulate_scaled_batch`.

    Attributes
    ----------
    window_scale : (float, float)
        Window scales s, drawn log-uniformly and rounded to the ladder of
        :func:`xicam_gisaxs_cnn.frames.scale.quantise_scale`; lattices of the config's
        nn-distance range times s (12-35 nm x 0.35-8 = 4-280 nm).
    energy_kev : (float, float)
        Beam energy, keV, uniform.
    alpha_i_deg : (float, float)
        Incidence angle, degrees, uniform up to the limit :data:`MAX_HORIZON_QZ_NM` sets.
    """

    window_scale: Range = (0.35, 8.0)
    energy_kev: Range = (8.0, 17.0)
    alpha_i_deg: Range = (0.08, 0.5)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            low, high = getattr(self, field.name)
            if not 0 < low <= high:
                raise ValueError(f"{field.name} must be (low, high) with 0 < low <= high, got {(low, high)}")


def sample_scaled_parameters(
    labels: torch.Tensor,
    *,
    config: SimulationConfig,
    generator: torch.Generator,
    ranges: ScaledSimulation = ScaledSimulation(),
    overrides: dict[str, float] | None = None,
) -> dict[str, torch.Tensor]:
    """Parameters of :func:`simulate_scaled_batch`: the config's draw at scale 1, then a window scale,
    energy and incidence angle per pattern, lengths multiplied by the scale (see its docstring)."""
    count = labels.numel()
    params = sample_parameters(labels, config, generator, overrides=overrides)
    log_low, log_high = (math.log(v) for v in ranges.window_scale)
    drawn = torch.exp(log_low + (log_high - log_low) * torch.rand(count, generator=generator, dtype=torch.float64))
    scales = torch.tensor([quantise_scale(float(s)) for s in drawn], dtype=torch.float64)
    params["window_scale"] = scales
    params["energy_kev"] = _uniform(count, ranges.energy_kev, generator)
    highest = torch.rad2deg(torch.asin((MAX_HORIZON_QZ_NM / (scales * 2 * math.pi * params["energy_kev"] / HC_KEV_NM)).clamp(max=1)))
    highest = highest.clamp(min=ranges.alpha_i_deg[0], max=ranges.alpha_i_deg[1])
    low = torch.full_like(highest, ranges.alpha_i_deg[0])
    params["alpha_i_deg"] = low + (highest - low) * torch.rand(count, generator=generator, dtype=torch.float64)
    for name in ("nn_distance_nm", "radius_nm", "debye_waller_nm"):
        params[name] = params[name] * scales
    params["resolution_sigma_nm"] = params["resolution_sigma_nm"] / scales
    return params


def scaled_exit_angles(params: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Exit angle alpha_f and in-plane angle 2theta_f, degrees, (N, 125, 125), of each pattern's canonical
    pixels at its ``window_scale``, ``energy_kev`` and ``alpha_i_deg``."""
    qy, qz = canonical_axes_nm(1.0)
    scales = params["window_scale"].double().cpu().numpy()[:, None, None]
    per_pattern = {name: params[name].double().cpu().numpy()[:, None, None] for name in ("energy_kev", "alpha_i_deg")}
    return exit_angles_from_q(qy[None, None, :] / scales, qz[None, :, None] / scales, **per_pattern)


def simulate_scaled_batch(
    labels: torch.Tensor,
    *,
    config: SimulationConfig,
    generator: torch.Generator,
    ranges: ScaledSimulation = ScaledSimulation(),
    overrides: dict[str, float] | None = None,
    device: torch.device | str = "cpu",
) -> Batch:
    """Simulate one pattern per label, each at its own window scale, energy and incidence angle.

    Parameters
    ----------
    labels : LongTensor, shape (N,)
        Class indices.
    config : SimulationConfig
        Ranges of the lattice parameters at scale 1 (lengths are multiplied by s).
    generator : torch.Generator
        Source of every draw.
    ranges : ScaledSimulation
        Ranges of scale, energy and incidence angle.
    overrides : dict, optional
        Parameters fixed at scale 1, as for :func:`~..simulation.sample_parameters`.
    device : str or torch.device
        Where the simulator runs and the batch lives.

    Returns
    -------
    Batch
        Images (N, 1, 125, 125) float32, masks True above the horizon, and params with
        the sampled values (lengths of the physical, scaled lattice, nm) plus
        ``window_scale`` (N,).
    """
    params = sample_scaled_parameters(labels, config=config, generator=generator, ranges=ranges, overrides=overrides)
    images, masks = render_scaled(params, config=config, device=device)
    return Batch(images, masks, labels.to(device), params)


def render_scaled(
    params: dict[str, torch.Tensor], *, config: SimulationConfig, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, 125, 125) float32 and masks (True above the horizon) of :func:`sample_scaled_parameters`' draw."""
    alpha_f, two_theta = scaled_exit_angles(params)
    pixel_nm = pixel_size_nm()[0] / params["window_scale"]  # the canonical pixel, shrunk with the window
    simulated = {name: value for name, value in params.items() if name != "window_scale"}
    # one call for every scale: the powder rings to tabulate follow each pattern's lattice-to-window ratio
    images = simulate_angles(simulated, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta, config=config, device=device,
                             pixel_nm=pixel_nm).float()[:, None]
    return images, torch.from_numpy(alpha_f >= 0)[:, None].to(device)


@dataclasses.dataclass(frozen=True)
class RandomisationRanges:
    """Per-sample probabilities and ranges of :class:`Randomiser` (strengths relative to the pattern's mean).

    ``*_probability`` is the chance a sample gets that artefact; log-uniform draws for
    strengths and counts, uniform for the rest.
    """

    warp_probability: float = 0.7
    shift_cells: Range = (-2.0, 2.0)
    rotation_deg: Range = (-1.0, 1.0)
    zoom: Range = (0.97, 1.03)
    yoneda_probability: float = 0.8
    yoneda_strength: Range = (0.03, 3.0)
    roughness_length_nm: Range = (5.0, 100.0)
    specular_probability: float = 0.8
    specular_strength: Range = (1.0, 300.0)
    specular_width_cells: Range = (0.4, 1.5)
    parasitic_probability: float = 0.5
    parasitic_strength: Range = (0.1, 100.0)
    parasitic_radius_cells: Range = (1.0, 8.0)
    background_probability: float = 0.7
    background: Range = (1e-4, 0.1)
    counts_probability: float = 0.9
    log10_counts: Range = (2.0, 7.0)
    gap_probability: float = 0.7
    pixel_to_cell: Range = (0.05, 1.0)
    beam_stop_probability: float = 0.8
    beam_stop_width_cells: Range = (1.0, 10.0)
    beam_stop_above_horizon: Range = (0.05, 0.6)
    horizon_cut_rows: Range = (0.0, 4.0)
    bad_cell_fraction: Range = (0.0, 0.005)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_probability"):
                if not 0 <= value <= 1:
                    raise ValueError(f"{field.name} must be in [0, 1], got {value}")
            elif not value[0] <= value[1]:
                raise ValueError(f"{field.name} must be (low, high) with low <= high, got {value}")

    @classmethod
    def from_dict(cls, values: dict) -> "RandomisationRanges":
        """Ranges from a JSON object; missing keys take the defaults, unknown keys raise ValueError."""
        return record_from_dict(cls, values, what="randomisation")

    def to_dict(self) -> dict:
        """JSON-ready ranges, as recorded in a bundle's manifest."""
        return record_to_dict(self)


@dataclasses.dataclass(frozen=True)
class Randomiser:
    """Detector, background and counting artefacts for canonical batches; see the module docstring.

    Examples
    --------
    >>> images = torch.rand(4, 1, 125, 125)
    >>> masks = torch.ones(4, 1, 125, 125, dtype=torch.bool)
    >>> out, out_masks = Randomiser()(images, masks, torch.Generator().manual_seed(0))
    >>> out.shape, out_masks.dtype
    (torch.Size([4, 1, 125, 125]), torch.bool)
    """

    ranges: RandomisationRanges = RandomisationRanges()

    def __call__(
        self,
        images: torch.Tensor,
        masks: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        window_scale: torch.Tensor | None = None,
        energy_kev: torch.Tensor | None = None,
        alpha_i_deg: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Randomise a batch.

        Parameters
        ----------
        images : Tensor (N, 1, 125, 125)
            Non-negative canonical intensities (any units).
        masks : Tensor (N, 1, 125, 125), bool
            True where the image holds data.
        generator : torch.Generator, optional
            Source of every draw (CPU generator).
        window_scale, energy_kev, alpha_i_deg : Tensor (N,), optional
            Each sample's window scale, energy (keV) and incidence angle (degrees), as in
            :func:`simulate_scaled_batch`'s params; default 1, 10 keV and 0.2 degrees
            (the canonical training geometry).

        Returns
        -------
        images, masks : Tensor
            float32 (N, 1, 125, 125) counts (0 where masked) and bool masks.
        """
        if images.ndim != 4 or images.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must have shape (N, 1, {IMAGE_SIZE}, {IMAGE_SIZE}), got {tuple(images.shape)}")
        if masks.shape != images.shape or masks.dtype != torch.bool:
            raise ValueError(f"masks must be bool of the images' shape {tuple(images.shape)}, got {masks.dtype} {tuple(masks.shape)}")
        if not bool(torch.isfinite(images).all()) or bool((images < 0).any()):
            raise ValueError("images must hold finite intensities >= 0")
        count, device = images.shape[0], images.device
        r = self.ranges
        draw = _Draws(count, generator, device)
        scale = _per_sample(window_scale, count, 1.0, "window_scale", device)
        energy = _per_sample(energy_kev, count, DEFAULT_ENERGY_KEV, "energy_kev", device)
        alpha_i = _per_sample(alpha_i_deg, count, DEFAULT_ALPHA_I_DEG, "alpha_i_deg", device)
        qy, qz = (torch.as_tensor(axis, dtype=torch.float64, device=device) for axis in canonical_axes_nm(1.0))
        qy_nm = qy[None, :] / scale[:, None]  # (N, W)
        qz_nm = qz[None, :] / scale[:, None]  # (N, H)
        k = 2 * math.pi * energy / HC_KEV_NM
        sin_alpha_f = qz_nm / k[:, None] - torch.sin(torch.deg2rad(alpha_i))[:, None]
        alpha_f = torch.asin(sin_alpha_f.clamp(-1, 1))  # (N, H), radians
        above = (alpha_f >= 0)[:, :, None]  # (N, H, 1)

        valid = masks[:, 0]
        film = torch.where(valid, images[:, 0].double(), torch.zeros((), dtype=torch.float64, device=device))
        mean = film.sum(dim=(1, 2)) / valid.sum(dim=(1, 2)).clamp_min(1)
        film = film / torch.where(mean > 0, mean, torch.ones_like(mean))[:, None, None]
        optics = torch.tensor([silicon_refractive_index(e) for e in energy.tolist()], dtype=torch.float64, device=device)
        delta, beta = optics[:, :1], optics[:, 1:]
        r_f = reflection_coefficient(alpha_f.clamp_min(0), delta=delta, beta=beta)
        yoneda = (1 + r_f).abs().square()
        yoneda = yoneda / yoneda.amax(dim=1, keepdim=True)
        xi = draw.log_uniform(r.roughness_length_nm)
        substrate = yoneda[:, :, None] * (1 + (qy_nm * xi[:, None]) ** 2)[:, None, :] ** -1.5
        film = film + draw.chosen(r.yoneda_probability) * draw.log_uniform(r.yoneda_strength)[:, None, None] * substrate * above

        column = torch.arange(IMAGE_SIZE, dtype=torch.float64, device=device)
        centre = (IMAGE_SIZE - 1) / 2
        width = draw.uniform(r.specular_width_cells)
        rod = torch.exp(-0.5 * ((column[None, :] - centre) / width[:, None]) ** 2)
        mean_angle = (alpha_f + torch.deg2rad(alpha_i)[:, None]) / 2
        reflectivity = reflection_coefficient(mean_angle.clamp_min(0), delta=delta, beta=beta).abs().square()
        at_specular = reflection_coefficient(torch.deg2rad(alpha_i)[:, None], delta=delta, beta=beta).abs().square()
        row_spacing = (qz[0] - qz[1]) / scale
        specular_row_qz = 2 * k * torch.sin(torch.deg2rad(alpha_i))
        peak = 1 + 30 * torch.exp(-0.5 * ((qz_nm - specular_row_qz[:, None]) / row_spacing[:, None]) ** 2)
        specular = (reflectivity / at_specular * peak / 31)[:, :, None] * rod[:, None, :]
        film = film + draw.chosen(r.specular_probability) * draw.log_uniform(r.specular_strength)[:, None, None] * specular * above

        row = torch.arange(IMAGE_SIZE, dtype=torch.float64, device=device)
        distance = torch.hypot(row[None, :, None] - (IMAGE_SIZE - 1), column[None, None, :] - centre)
        radius = draw.log_uniform(r.parasitic_radius_cells)[:, None, None]
        halo = (1 + (distance / radius) ** 2) ** -1.5
        film = film + draw.chosen(r.parasitic_probability) * draw.log_uniform(r.parasitic_strength)[:, None, None] * halo
        film = film + draw.chosen(r.background_probability) * draw.log_uniform(r.background)[:, None, None]

        film, valid = _warp(film, valid & above.expand_as(valid), draw, r)
        valid = valid & _detector_masks(above[:, :, 0], draw, r)
        film = torch.where(valid, film, torch.zeros_like(film))
        counted = draw.chosen(r.counts_probability)[:, 0, 0].bool()
        if bool(counted.any()):
            total = 10.0 ** draw.uniform(r.log10_counts)
            rate = film * (total / film.sum(dim=(1, 2)).clamp_min(1e-30))[:, None, None]
            drawn = torch.poisson(rate, generator=generator_on(rate.device, generator))
            film = torch.where(counted[:, None, None], drawn, film)
        return film[:, None].float(), valid[:, None]


class _Draws:
    """Per-sample random draws from one generator (CPU), moved to the batch's device."""

    def __init__(self, count: int, generator: torch.Generator | None, device) -> None:
        self.count, self.generator, self.device = count, generator, device

    def rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(self.count, *shape, generator=self.generator, dtype=torch.float64).to(self.device)

    def uniform(self, bounds: Range) -> torch.Tensor:
        return bounds[0] + (bounds[1] - bounds[0]) * self.rand()

    def log_uniform(self, bounds: Range) -> torch.Tensor:
        low, high = math.log(bounds[0]), math.log(bounds[1])
        return torch.exp(low + (high - low) * self.rand())

    def chosen(self, probability: float) -> torch.Tensor:
        """(N, 1, 1) float: 1 for samples that get the artefact, 0 for the others."""
        return (self.rand() < probability).double()[:, None, None]


def _uniform(count: int, bounds: Range, generator) -> torch.Tensor:
    return bounds[0] + (bounds[1] - bounds[0]) * torch.rand(count, generator=generator, dtype=torch.float64)


def _per_sample(value, count: int, default: float, name: str, device) -> torch.Tensor:
    if value is None:
        return torch.full((count,), float(default), dtype=torch.float64, device=device)
    tensor = torch.as_tensor(value, dtype=torch.float64).flatten().to(device)
    if tensor.numel() != count or not bool(torch.isfinite(tensor).all()) or bool((tensor <= 0).any()):
        raise ValueError(f"{name} must hold {count} finite values > 0, got {tensor.tolist()}")
    return tensor


def _warp(film: torch.Tensor, valid: torch.Tensor, draw: _Draws, r: RandomisationRanges):
    """Shift, rotate and zoom each sample's image and mask about the direct beam (bottom centre)."""
    chosen = draw.chosen(r.warp_probability)[:, 0, 0]
    shift_x, shift_y = draw.uniform(r.shift_cells) * chosen, draw.uniform(r.shift_cells) * chosen
    angle = torch.deg2rad(draw.uniform(r.rotation_deg)) * chosen
    zoom = 1 + (draw.uniform(r.zoom) - 1) * chosen
    half = (IMAGE_SIZE - 1) / 2
    # output pixel (normalised coords u, v) reads input at A (u, v - 1) + (0, 1) + shift: about the bottom centre
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([
        torch.stack([cos, -sin, sin + shift_x / half], dim=1),
        torch.stack([sin, cos, 1 - cos + shift_y / half], dim=1),
    ], dim=1).float()
    grid = torch.nn.functional.affine_grid(theta, (film.shape[0], 1, IMAGE_SIZE, IMAGE_SIZE), align_corners=True)
    warped = torch.nn.functional.grid_sample(film[:, None].float(), grid, mode="bilinear", padding_mode="zeros",
                                             align_corners=True)[:, 0].double()
    inside = torch.nn.functional.grid_sample(valid[:, None].float(), grid, mode="bilinear", padding_mode="zeros",
                                             align_corners=True)[:, 0]
    moved = chosen.bool()[:, None, None]
    return torch.where(moved, warped.clamp_min(0), film), torch.where(moved, inside > 0.999, valid)


def _detector_masks(above: torch.Tensor, draw: _Draws, r: RandomisationRanges) -> torch.Tensor:
    """(N, H, W) bool, False on module gaps, the beam stop, the horizon cut and bad cells."""
    count, device = above.shape[0], above.device
    keep = torch.ones(count, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.bool, device=device)
    ratio = draw.log_uniform(r.pixel_to_cell)
    gapped = draw.chosen(r.gap_probability)[:, 0, 0].bool()
    for axis, module, gap in ((2, _PILATUS_MODULE_PX[0], _PILATUS_GAP_PX[0]), (1, _PILATUS_MODULE_PX[1], _PILATUS_GAP_PX[1])):
        period = (module + gap) * ratio
        phase = draw.rand() * period
        sub = (torch.arange(IMAGE_SIZE * 8, dtype=torch.float64, device=device) + 0.5) / 8 - 0.5  # 8 samples per cell
        in_gap = torch.remainder(sub[None, :] + phase[:, None], period[:, None]) >= (module * ratio)[:, None]
        covered = in_gap.double().reshape(count, IMAGE_SIZE, 8).mean(dim=2) > 0.5
        covered = covered & gapped[:, None]
        keep &= ~(covered[:, None, :] if axis == 2 else covered[:, :, None])
    horizon_row = above.double().sum(dim=1)  # rows above the horizon (rows counted from the top)
    cut = draw.uniform(r.horizon_cut_rows).round()
    row = torch.arange(IMAGE_SIZE, device=device, dtype=torch.float64)
    keep &= (row[None, :] < (horizon_row - cut)[:, None])[:, :, None]
    stopped = draw.chosen(r.beam_stop_probability)[:, 0, 0].bool()
    half_width = draw.uniform(r.beam_stop_width_cells) / 2
    offset = draw.uniform((-1.0, 1.0))
    top = horizon_row * (1 - draw.uniform(r.beam_stop_above_horizon))
    column = torch.arange(IMAGE_SIZE, device=device, dtype=torch.float64)
    in_bar = (column[None, :] - (IMAGE_SIZE - 1) / 2 - offset[:, None]).abs() <= half_width[:, None]
    below_top = row[None, :] >= top[:, None]
    keep &= ~((below_top[:, :, None] & in_bar[:, None, :]) & stopped[:, None, None])
    keep &= draw.rand(IMAGE_SIZE, IMAGE_SIZE) >= draw.uniform(r.bad_cell_fraction)[:, None, None]
    return keep
