"""Draw the parameters of a batch of patterns from a :class:`SimulationConfig`."""
from __future__ import annotations

import math

import torch

from xicam_gisaxs_cnn.classes import NUM_CLASSES

from .config import SimulationConfig
from .lattices import wedge_deg

PARAMETER_NAMES: tuple[str, ...] = (
    "label", "nn_distance_nm", "radius_nm", "polydispersity", "repetitions_lateral",
    "repetitions_vertical", "in_plane_angle_deg", "in_plane_direction", "compression",
    "debye_waller_nm", "alpha_i_deg", "energy_kev", "resolution_sigma_nm",
    "mosaic_spread_deg", "grain_offsets_deg", "hcp_c_over_a",
)
"""Keys of the dict returned by :func:`sample_parameters`."""


def _uniform(generator: torch.Generator, count: int, bounds: tuple[float, float]) -> torch.Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64)


def _log_uniform_integer(generator: torch.Generator, count: int, bounds: tuple[float, float]) -> torch.Tensor:
    low, high = math.log(bounds[0]), math.log(bounds[1])
    values = torch.exp(low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64))
    return values.round().clamp(min=max(1.0, round(bounds[0])), max=max(1.0, round(bounds[1])))


def sample_parameters(
    labels: torch.Tensor,
    config: SimulationConfig,
    generator: torch.Generator,
    overrides: dict[str, float] | None = None,
) -> dict[str, torch.Tensor]:
    """Draw every parameter of one pattern per label.

    Parameters
    ----------
    labels : LongTensor, shape (N,)
        Class indices in :data:`xicam_gisaxs_cnn.classes.CLASSES` order.
    config : SimulationConfig
        Ranges of the parameters.
    generator : torch.Generator
        Source of randomness (CPU generator); the same seed gives the same draw.
    overrides : dict, optional
        Parameter name -> value fixed for every sample (e.g.
        ``{"repetitions_lateral": 10.0}``), applied after the draw; quantities
        derived from it (``radius_nm`` from ``nn_distance_nm``,
        ``in_plane_direction`` from ``in_plane_angle_deg``) follow.

    Returns
    -------
    dict of str -> Tensor
        Float64 tensors of shape (N,) (``grain_offsets_deg``: (N, grains)),
        ``label`` and ``in_plane_direction`` int64; keys :data:`PARAMETER_NAMES`.
        Lengths in nm, angles in degrees, energies in keV.

    Examples
    --------
    >>> p = sample_parameters(torch.tensor([0, 6]), SimulationConfig(), torch.Generator().manual_seed(0))
    >>> p["radius_nm"].shape
    torch.Size([2])
    """
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype != torch.int64:
        raise ValueError(f"labels must be a LongTensor of shape (N,), got {labels!r}")
    if bool(((labels < 0) | (labels >= NUM_CLASSES)).any()):
        raise ValueError(f"labels must lie in 0..{NUM_CLASSES - 1}, got {labels.tolist()}")
    overrides = dict(overrides or {})
    allowed = set(PARAMETER_NAMES) - {"label", "in_plane_direction"} | {"radius_fraction", "debye_waller_fraction"}
    unknown = set(overrides) - allowed
    if unknown:
        raise ValueError(f"overrides holds parameters that cannot be fixed: {sorted(unknown)}; allowed: {sorted(allowed)}")
    count = labels.numel()
    labels = labels.cpu()

    def fixed(name: str, drawn: torch.Tensor) -> torch.Tensor:
        if name in overrides:
            return torch.full_like(drawn, float(overrides[name]))
        return drawn

    nn_distance = fixed("nn_distance_nm", _uniform(generator, count, config.nn_distance_nm_range))
    radius_fraction = fixed("radius_fraction", _uniform(generator, count, config.radius_fraction_range))
    dw_fraction = fixed("debye_waller_fraction", _uniform(generator, count, config.debye_waller_fraction_range))
    wedge = wedge_deg(labels)
    angle = fixed("in_plane_angle_deg", wedge * torch.rand(count, generator=generator, dtype=torch.float64))
    spread = fixed("mosaic_spread_deg", _uniform(generator, count, config.mosaic_spread_deg_range))
    offsets = fixed("grain_offsets_deg", spread[:, None] * torch.randn(count, config.grains, generator=generator, dtype=torch.float64))
    direction = torch.floor(torch.remainder(angle, wedge) / wedge * config.direction_bins).long()
    params = {
        "label": labels.clone(),
        "nn_distance_nm": nn_distance,
        "radius_nm": radius_fraction * nn_distance,
        "polydispersity": _uniform(generator, count, config.polydispersity_range),
        "repetitions_lateral": _log_uniform_integer(generator, count, config.repetitions_lateral_range),
        "repetitions_vertical": _log_uniform_integer(generator, count, config.repetitions_vertical_range),
        "in_plane_angle_deg": angle,
        "in_plane_direction": direction.clamp(max=config.direction_bins - 1),
        "compression": _uniform(generator, count, config.compression_range),
        "debye_waller_nm": dw_fraction * nn_distance,
        "alpha_i_deg": _uniform(generator, count, config.alpha_i_deg_range),
        "energy_kev": _uniform(generator, count, config.energy_kev_range),
        "resolution_sigma_nm": _uniform(generator, count, config.resolution_sigma_nm_range),
        "mosaic_spread_deg": spread,
        "grain_offsets_deg": offsets,
        "hcp_c_over_a": _uniform(generator, count, config.hcp_c_over_a_range),
    }
    for name in ("polydispersity", "repetitions_lateral", "repetitions_vertical", "compression",
                 "alpha_i_deg", "energy_kev", "resolution_sigma_nm", "hcp_c_over_a", "radius_nm", "debye_waller_nm"):
        params[name] = fixed(name, params[name])
    for name in ("repetitions_lateral", "repetitions_vertical"):
        params[name] = params[name].round().clamp_min(1.0)
    return params
