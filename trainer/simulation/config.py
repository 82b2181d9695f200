"""Every sampled parameter of the GISAXS simulator and its range, in one documented config."""
from __future__ import annotations

from dataclasses import dataclass, fields

from xicam_gisaxs_cnn.canonical import DEFAULT_ALPHA_I_DEG, DEFAULT_ENERGY_KEV

from ..json_records import record_from_dict, record_to_dict
from .lattices import IDEAL_HCP_C_OVER_A

Range = tuple[float, float]

IN_PLANE_MODES: tuple[str, ...] = ("powder", "grains")
"""In-plane orientation models of the film (see :attr:`SimulationConfig.in_plane`)."""


@dataclass(frozen=True)
class SimulationConfig:
    """Ranges of the sampled parameters and the settings of the simulator.

    Each ``*_range`` is ``(low, high)``; a parameter is drawn uniformly in it
    unless said otherwise, and ``low == high`` fixes it. The sampled values of
    every pattern are returned by :func:`sample_parameters` and saved with it.

    Attributes
    ----------
    nn_distance_nm_range : (float, float)
        Nearest-neighbour distance d between sphere centres, nm.
    radius_fraction_range : (float, float)
        Mean sphere radius as a fraction of d (0.5 = touching spheres).
    polydispersity_range : (float, float)
        Relative standard deviation of the sphere radius (Gaussian, each sphere drawn
        independently): smears the form-factor minima and adds diffuse scattering.
    repetitions_lateral_range : (float, float)
        Cells along x and along y (the same number in both, as in the paper),
        drawn log-uniformly and rounded to an integer.
    repetitions_vertical_range : (float, float)
        Cells along the substrate normal, drawn log-uniformly and rounded.
    compression_range : (float, float)
        Relative vertical compression of the lattice (0.1 = 10 % shorter along z),
        as from solvent evaporation.
    debye_waller_fraction_range : (float, float)
        Root-mean-square displacement of each sphere along each axis, as a fraction
        of d: damps Bragg peaks by exp(-q^2 sigma^2) and adds their diffuse part.
    alpha_i_deg_range : (float, float)
        True incidence angle, degrees (jitter around the nominal angle with which
        the canonical pixels are converted to exit angles).
    energy_kev_range : (float, float)
        Beam energy, keV.
    resolution_sigma_nm_range : (float, float)
        Instrumental broadening: Gaussian standard deviation of the in-plane
        wavevector resolution, nm^-1 (the canonical pixel is 0.016 nm^-1). Sharp
        peaks of large grains keep their integrated intensity.
    mosaic_spread_deg_range : (float, float)
        Standard deviation of the in-plane orientation of the grains about the
        pattern's in-plane angle, degrees.
    hcp_c_over_a_range : (float, float)
        c/a of the HCP0001 lattices (ideal sqrt(8/3) = 1.633).
    in_plane : str
        ``"powder"`` (default): the film holds grains at every in-plane angle about
        the substrate normal (fibre texture, as a beam footprint of millions of
        grains sees), averaged analytically; ``"grains"``: ``grains`` grains at the
        sampled in-plane angle with the mosaic spread (a single-crystal domain).
    grains : int
        Grains averaged incoherently in every pattern with ``in_plane="grains"``.
    direction_bins : int
        Bins of the in-plane angle over the symmetry wedge; the bin index is the
        ``in_plane_direction`` over which splits are stratified.
    radius_quadrature : int
        Gauss-Hermite nodes over the radius distribution.
    pixel_supersampling : int
        s: every canonical pixel is the mean of s x s sub-pixels spread over its
        area, as a detector pixel (or a resampled frame's bin) integrates over its
        width; 1 samples the pixel centres only, so peaks narrower than a pixel
        (large grains) are hit or missed at random.
    born : bool
        True: Born approximation (no substrate); False: four-term DWBA.
    dtype : str
        ``"float32"`` (fast) or ``"float64"`` (validation).
    chunk_size : int
        Patterns computed together (bounds the memory).
    nominal_energy_kev, nominal_alpha_i_deg : float
        Geometry with which canonical (qy, qz) pixels are converted to exit angles.
    """

    nn_distance_nm_range: Range = (12.0, 35.0)
    radius_fraction_range: Range = (0.15, 0.40)
    polydispersity_range: Range = (0.0, 0.10)
    repetitions_lateral_range: Range = (1.0, 200.0)
    repetitions_vertical_range: Range = (1.0, 20.0)
    compression_range: Range = (0.0, 0.20)
    debye_waller_fraction_range: Range = (0.0, 0.06)
    alpha_i_deg_range: Range = (0.18, 0.22)
    energy_kev_range: Range = (DEFAULT_ENERGY_KEV, DEFAULT_ENERGY_KEV)
    resolution_sigma_nm_range: Range = (0.004, 0.012)
    mosaic_spread_deg_range: Range = (0.0, 3.0)
    hcp_c_over_a_range: Range = (IDEAL_HCP_C_OVER_A, IDEAL_HCP_C_OVER_A)
    in_plane: str = "powder"
    grains: int = 3
    direction_bins: int = 6
    radius_quadrature: int = 5
    pixel_supersampling: int = 1
    born: bool = False
    dtype: str = "float32"
    chunk_size: int = 32
    nominal_energy_kev: float = DEFAULT_ENERGY_KEV
    nominal_alpha_i_deg: float = DEFAULT_ALPHA_I_DEG

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_range"):
                low, high = value
                if not low <= high:
                    raise ValueError(f"{field.name} must be (low, high) with low <= high, got {value}")
                if field.name.startswith(("nn_distance", "radius_fraction", "repetitions", "energy", "alpha_i")) and not low > 0:
                    raise ValueError(f"{field.name} must be positive, got {value}")
                if field.name.startswith(("polydispersity", "compression", "debye", "resolution", "mosaic")) and low < 0:
                    raise ValueError(f"{field.name} must be >= 0, got {value}")
        if self.compression_range[1] >= 1.0:
            raise ValueError(f"compression_range must stay below 1, got {self.compression_range}")
        for name in ("grains", "direction_bins", "radius_quadrature", "pixel_supersampling", "chunk_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.in_plane not in IN_PLANE_MODES:
            raise ValueError(f"in_plane must be one of {IN_PLANE_MODES}, got {self.in_plane!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def to_dict(self) -> dict:
        """Plain dict (ranges as lists) for JSON or HDF5 attributes."""
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "SimulationConfig":
        """Inverse of :meth:`to_dict`; missing keys take the defaults, unknown keys raise ValueError."""
        return record_from_dict(cls, values, what="SimulationConfig")

    @classmethod
    def from_record(cls, values: dict) -> "SimulationConfig":
        """The config saved with a dataset or bundle; records of simulator 1.0 (no ``in_plane``) simulated grains."""
        return cls.from_dict({"in_plane": "grains", **values})
