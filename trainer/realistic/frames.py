"""Realistic GISAXS detector frames: a simulated film on a real detector, with the artefacts of a beamline.

A frame is built in two steps, so that any film can meet any instrument:

1. the film's expected intensity at every detector pixel: :func:`superlattice_film`
   (the simulator at the detector's exit angles), :func:`monolayer_film` (a 2-D
   hexagonal lattice, out of distribution) or zeros (an empty frame);
2. :func:`render_frame` puts it on the detector: substrate diffuse scattering with
   its Yoneda band, the specular rod and peak, the direct beam with parasitic slit
   scattering, a constant background, the transmitted signal below the horizon,
   the beam stop's shadow, Poisson counting statistics for a requested total,
   module gaps and bad pixels (-1 and -2, as Pilatus writes them).

:func:`realistic_frame` draws a whole frame of one class and lattice constant;
:func:`write_realistic_frame` writes it with :func:`xicam_gisaxs_cnn.frames.write_frames`
(TIFF, EDF, CBF, NeXus) so tests and evaluation read it through the user's path.

Intensity model (per pixel, film mean = 1 above the horizon), with t(a) = 1 + r(a)
the Fresnel transmission factor of the substrate and r its reflection coefficient::

    film                                         alpha_f >= 0
    transmission x film(|alpha_f|) x exp(alpha_f / 0.1 deg)   alpha_f < 0  (GTSAXS side)
  + yoneda |t(alpha_i)|^2 |t(alpha_f)|^2 / (1 + (q_par xi)^2)^1.5   (substrate roughness)
  + specular |r((alpha_i + alpha_f) / 2)|^2 g(2theta_f) (1 + 30 g(alpha_f - alpha_i))
  + direct g(r) + parasitic / (1 + (r / r0)^2)^1.5 + slit streak along the rows
  + constant

with g Gaussians of about a pixel. Under the beam stop the sum is multiplied by
its transmission. Then ``total_counts`` photons are drawn (Poisson) over the
detector's live pixels.
"""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import torch

from xicam_gisaxs_cnn.classes import CLASS_NAMES, class_index
from xicam_gisaxs_cnn.frames import DetectorGeometry, exit_angles_deg, pixel_q_nm, write_frames
from xicam_gisaxs_cnn.frames.detectors import PILATUS_1M, PILATUS_2M, DetectorLayout
from xicam_gisaxs_cnn.frames.scale import REFERENCE_PEAK_NM
from xicam_gisaxs_cnn.physics import silicon_refractive_index, wavenumber_nm

from ..simulation import SimulationConfig, sample_parameters, simulate_angles
from ..simulation.dwba import sphere_form_factor
from ..simulation.fresnel import reflection_coefficient
from .randomise import MAX_HORIZON_QZ_NM

GAP_VALUE: int = -1
"""Pixel value of module gaps (Pilatus)."""

BAD_PIXEL_VALUE: int = -2
"""Pixel value of dead or hot pixels (Pilatus)."""

LATTICE_RANGE_NM: tuple[float, float] = (10.0, 150.0)
"""Nearest-neighbour distances of real nanoparticle superlattices, nm."""


SMALL_DETECTOR = DetectorLayout("small test detector", (256, 240), module_px=(116, 60), gap_px=(8, 5))
"""A quick 256 x 240 px detector with Pilatus-like gaps, for tests."""


@dataclasses.dataclass(frozen=True)
class Instrument:
    """Artefact levels of one frame; strengths relative to the film's mean intensity above the horizon.

    Attributes
    ----------
    total_counts : float
        Expected photons on the live pixels of the detector (1e2-1e7 in practice).
    yoneda_strength : float
        Substrate diffuse scattering at its Yoneda maximum.
    roughness_length_nm : float
        In-plane correlation length xi of the substrate roughness, nm.
    specular_strength : float
        Specular rod at the horizon.
    transmission_strength : float
        Transmitted (GTSAXS) signal below the horizon.
    direct_beam_strength : float
        Peak of the direct beam (under the beam stop).
    parasitic_strength : float
        Slit and window scattering around the direct beam.
    parasitic_radius_px : float
        Half-width of the parasitic halo, px.
    constant_background : float
        Flat background (fluorescence, air scattering, dark counts).
    beam_stop_width_px : int
        Width of the vertical beam-stop bar, px (0: no beam stop).
    beam_stop_above_horizon_px : int
        How far the bar reaches above the horizon (or above the specular spot when it
        lies on the detector), px.
    beam_stop_transmission : float
        Fraction of the intensity that leaks through the beam stop.
    bad_pixel_fraction : float
        Fraction of pixels marked bad (value -2).
    """

    total_counts: float = 1e6
    yoneda_strength: float = 0.5
    roughness_length_nm: float = 30.0
    specular_strength: float = 100.0
    transmission_strength: float = 0.3
    direct_beam_strength: float = 1e5
    parasitic_strength: float = 30.0
    parasitic_radius_px: float = 8.0
    constant_background: float = 0.01
    beam_stop_width_px: int = 30
    beam_stop_above_horizon_px: int = 30
    beam_stop_transmission: float = 1e-4
    bad_pixel_fraction: float = 1e-4

    def __post_init__(self) -> None:
        if not self.total_counts > 0:
            raise ValueError(f"total_counts must be > 0, got {self.total_counts}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{field.name} must be a finite number >= 0, got {value}")
        if not self.roughness_length_nm > 0 or not self.parasitic_radius_px > 0:
            raise ValueError("roughness_length_nm and parasitic_radius_px must be > 0")
        if self.beam_stop_transmission > 1 or self.bad_pixel_fraction > 1:
            raise ValueError("beam_stop_transmission and bad_pixel_fraction must be <= 1")


def sample_instrument(rng: np.random.Generator, *, total_counts: float | None = None) -> Instrument:
    """Draw artefact levels over the ranges met at beamlines (strengths log-uniform).

    ``total_counts`` fixes the counts; otherwise they are drawn log-uniformly in 1e2-1e7.
    """
    def log_uniform(low: float, high: float) -> float:
        return float(10.0 ** rng.uniform(math.log10(low), math.log10(high)))

    return Instrument(
        total_counts=log_uniform(1e2, 1e7) if total_counts is None else float(total_counts),
        yoneda_strength=log_uniform(0.05, 3.0),
        roughness_length_nm=log_uniform(5.0, 100.0),
        specular_strength=log_uniform(3.0, 1e3),
        transmission_strength=log_uniform(0.03, 1.0),
        direct_beam_strength=log_uniform(1e3, 1e6),
        parasitic_strength=log_uniform(1.0, 300.0),
        parasitic_radius_px=log_uniform(3.0, 30.0),
        constant_background=log_uniform(1e-4, 0.1),
        beam_stop_width_px=int(rng.integers(10, 41)),
        beam_stop_above_horizon_px=int(rng.integers(10, 120)),
        beam_stop_transmission=log_uniform(1e-6, 1e-3),
        bad_pixel_fraction=log_uniform(1e-5, 1e-3),
    )


def sample_geometry(
    rng: np.random.Generator,
    *,
    layout: DetectorLayout,
    nn_distance_nm: float,
    energy_kev: tuple[float, float] = (8.0, 17.0),
    incidence_angle_deg: tuple[float, float] = (0.08, 0.5),
    distance_mm: tuple[float, float] = (1000.0, 10000.0),
) -> DetectorGeometry:
    """Draw a geometry an experimenter would choose for a lattice of ``nn_distance_nm``.

    Energy is uniform in its range; the incidence angle is uniform up to where the
    horizon would leave less than 30 % of the canonical window's rows
    (:data:`~.randomise.MAX_HORIZON_QZ_NM`) at the scale picked for d; the beam centre lies in
    the lower middle of the detector (x in 25-75 %, y in 60-95 % of the size), and the
    distance is log-uniform between the shortest that puts the first rods (near
    2 pi / d) 40 px from the beam (clear of the beam stop) and the longest that still shows the canonical
    window at the scale :mod:`xicam_gisaxs_cnn.frames.scale` picks for d (|qy| up to
    w = 2 pi / (REFERENCE_PEAK_NM d), and qz up to w above the horizon), both within ``distance_mm``.
    """
    if not nn_distance_nm > 0:
        raise ValueError(f"nn_distance_nm must be > 0, got {nn_distance_nm}")
    rows, columns = layout.shape
    energy = float(rng.uniform(*energy_kev))
    k = wavenumber_nm(energy)
    x = float(rng.uniform(0.25, 0.75) * (columns - 1))
    y = float(rng.uniform(0.6, 0.95) * (rows - 1))
    pixel = layout.pixel_size_mm
    scale = REFERENCE_PEAK_NM * nn_distance_nm / (2 * math.pi)  # what the automatic choice picks for d
    window_qy = 1.0 / scale  # edge of the canonical window at that scale, nm^-1
    steepest = math.degrees(math.asin(min(MAX_HORIZON_QZ_NM / (scale * k), 1.0)))
    incidence = float(rng.uniform(incidence_angle_deg[0], min(max(steepest, incidence_angle_deg[0]), incidence_angle_deg[1])))
    horizon_qz = k * math.sin(math.radians(incidence))
    longest = min(min(x, columns - 1 - x) * pixel * k / window_qy, y * pixel * k / (horizon_qz + window_qy))
    shortest = 40 * pixel * k * nn_distance_nm / (2 * math.pi)
    high = max(min(distance_mm[1], longest), distance_mm[0])  # the window on the detector comes first
    low = min(max(distance_mm[0], shortest), high)
    distance = float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return DetectorGeometry(
        energy_kev=energy, distance_mm=distance, pixel_size_mm=(pixel, pixel), beam_centre_px=(x, y),
        incidence_angle_deg=incidence,
    )


def detector_angles(layout: DetectorLayout, geometry: DetectorGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Exit angles ``(alpha_f, 2theta_f)``, degrees, of every pixel of ``layout`` at ``geometry``, (rows, columns)."""
    y_px, x_px = np.mgrid[0:layout.shape[0], 0:layout.shape[1]]
    return exit_angles_deg(x_px, y_px, geometry=geometry)


def pixel_resolution_nm(geometry: DetectorGeometry) -> float:
    """q spanned by one pixel at the beam centre, nm^-1 (0.0024 at 13.5 keV, 5 m, 0.172 mm)."""
    return wavenumber_nm(geometry.energy_kev) * min(geometry.pixel_size_mm) / geometry.distance_mm


def superlattice_film(
    params: dict[str, torch.Tensor],
    *,
    layout: DetectorLayout,
    geometry: DetectorGeometry,
    config: SimulationConfig | None = None,
) -> np.ndarray:
    """Expected film intensity (rows, columns) of one simulated superlattice on the detector.

    The pattern's energy and incidence angle are set to the geometry's. Below the
    horizon the pattern is mirrored (the transmitted side; :func:`render_frame`
    attenuates it).
    """
    if int(torch.as_tensor(params["label"]).numel()) != 1:
        raise ValueError(f"params must describe one pattern, got {int(torch.as_tensor(params['label']).numel())}")
    params = dict(params)
    params["energy_kev"] = torch.tensor([geometry.energy_kev], dtype=torch.float64)
    params["alpha_i_deg"] = torch.tensor([geometry.incidence_angle_deg], dtype=torch.float64)
    alpha_f, two_theta = detector_angles(layout, geometry)
    intensity = simulate_angles(params, alpha_f_deg=np.abs(alpha_f), two_theta_f_deg=two_theta, config=config)
    return intensity[0].double().numpy()


def monolayer_film(
    rng: np.random.Generator,
    *,
    layout: DetectorLayout,
    geometry: DetectorGeometry,
    nn_distance_nm: float,
    cells: int = 60,
) -> np.ndarray:
    """Expected intensity (rows, columns) of a 2-D hexagonal monolayer of spheres (no superlattice class).

    Born approximation with the substrate's transmission factors: |t_i t_f|^2 |F(q)|^2 S(qy).
    The monolayer is an in-plane powder of grains ``cells`` spacings wide, so S has rods
    at every reciprocal-lattice length |G| = 4 pi / (sqrt(3) d) sqrt(h^2 + hk + k^2),
    weighted by multiplicity / |G| (the 2-D powder average), Gaussian in qy with the
    grain-size and pixel widths added in quadrature; no vertical modulation. Mirrored
    below the horizon.
    """
    if not nn_distance_nm > 0:
        raise ValueError(f"nn_distance_nm must be > 0, got {nn_distance_nm}")
    alpha_f, _ = detector_angles(layout, geometry)
    y_px, x_px = np.mgrid[0:layout.shape[0], 0:layout.shape[1]]
    qy, _ = pixel_q_nm(x_px, y_px, geometry=geometry)
    k = wavenumber_nm(geometry.energy_kev)
    qz = k * (np.sin(np.radians(np.abs(alpha_f))) + math.sin(math.radians(geometry.incidence_angle_deg)))
    radius = nn_distance_nm * rng.uniform(0.3, 0.45)
    width = math.hypot(2 * math.pi / (cells * nn_distance_nm), pixel_resolution_nm(geometry))
    transmission = transmission_squared(np.abs(alpha_f), geometry.energy_kev) * transmission_squared(
        np.array(geometry.incidence_angle_deg), geometry.energy_kev)
    return monolayer_intensity(qy, qz, nn_distance_nm=nn_distance_nm, radius_nm=radius, width_nm=width) * transmission


def monolayer_intensity(
    qy_nm: np.ndarray, qz_nm: np.ndarray, *, nn_distance_nm: float, radius_nm: float, width_nm: float,
    lattice: str = "hexagonal",
) -> np.ndarray:
    """|F(q)|^2 S(qy) of a 2-D powder monolayer of spheres at (qy, qz), nm^-1, without substrate factors.

    S has a rod at every reciprocal-lattice length |G| of the ``"hexagonal"``
    (4 pi / (sqrt(3) d) sqrt(h^2 + hk + k^2)) or ``"square"`` (2 pi / d sqrt(h^2 + k^2))
    lattice of spacing ``nn_distance_nm``, weighted by multiplicity / |G| and Gaussian in qy
    of width ``width_nm`` (nm^-1); a floor of 1e-3 of its peak stands for the diffuse part.
    """
    if lattice not in ("hexagonal", "square"):
        raise ValueError(f"lattice must be 'hexagonal' or 'square', got {lattice!r}")
    magnitude = np.abs(qy_nm)
    if lattice == "hexagonal":
        first, cross = 4 * math.pi / (math.sqrt(3) * nn_distance_nm), 1
    else:
        first, cross = 2 * math.pi / nn_distance_nm, 0
    order = int(math.ceil((magnitude.max() + 5 * width_nm) / first)) + 1
    h, kk = np.meshgrid(np.arange(-order, order + 1), np.arange(-order, order + 1))
    lengths = first * np.sqrt(h**2 + cross * h * kk + kk**2).ravel()
    lengths, multiplicity = np.unique(np.round(lengths[lengths > 0], 9), return_counts=True)
    structure = np.zeros_like(magnitude)
    for length, times in zip(lengths, multiplicity):
        if length <= magnitude.max() + 5 * width_nm:
            structure += times / length * np.exp(-0.5 * ((magnitude - length) / width_nm) ** 2)
    form = sphere_form_factor(torch.as_tensor(np.hypot(qy_nm, qz_nm)), torch.tensor(radius_nm)).numpy() ** 2
    return form * (structure + 1e-3 * structure.max())


def render_frame(
    film: np.ndarray,
    *,
    layout: DetectorLayout,
    geometry: DetectorGeometry,
    instrument: Instrument,
    rng: np.random.Generator,
) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Put a film's expected intensity on the detector: add the beamline's signals, count photons, mark gaps.

    Parameters
    ----------
    film : numpy.ndarray
        Expected film intensity (rows, columns) of ``layout``, >= 0, any units (all zeros
        for an empty frame); see the module docstring for what is added.
    layout, geometry, instrument : keyword-only
        Detector, its geometry, and the artefact levels.
    rng : numpy.random.Generator
        Source of the photon counts, bad pixels.

    Returns
    -------
    counts : numpy.ndarray
        int32 (rows, columns): photon counts, -1 in module gaps, -2 on bad pixels.
    beam_stop_px : tuple of int or None
        The beam-stop rectangle ``(x_min, x_max, y_min, y_max)``, px, as a user would
        give it to ``gisaxs-cnn classify --beam-stop-px``; None without a beam stop.
    """
    intensity, beam_stop = expected_intensity(film, layout=layout, geometry=geometry, instrument=instrument)
    counts = count_photons(intensity, layout=layout, total_counts=instrument.total_counts,
                           bad_pixel_fraction=instrument.bad_pixel_fraction, rng=rng)
    return counts, beam_stop


def expected_intensity(
    film: np.ndarray,
    *,
    layout: DetectorLayout,
    geometry: DetectorGeometry,
    instrument: Instrument,
) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Expected intensity (rows, columns) of a frame before counting: the film and the beamline's signals.

    The film is scaled to mean 1 above the horizon; the sum is in those units. Returns it
    and the beam-stop rectangle ``(x_min, x_max, y_min, y_max)``, px (None without one).
    Nothing here is random: :func:`count_photons` draws the counts.
    """
    film = np.asarray(film, dtype=np.float64)
    if film.shape != layout.shape:
        raise ValueError(f"film must have the detector's shape {layout.shape}, got {film.shape}")
    if not np.all(np.isfinite(film)) or film.min() < 0:
        raise ValueError("film must hold finite intensities >= 0")
    geometry.check_detector_shape(layout.shape)
    alpha_f, two_theta = detector_angles(layout, geometry)
    above = alpha_f >= 0
    y_px, x_px = np.mgrid[0:layout.shape[0], 0:layout.shape[1]]
    qy, _ = pixel_q_nm(x_px, y_px, geometry=geometry)

    mean = film[above].mean() if above.any() and film[above].mean() > 0 else 1.0
    intensity = film / mean
    intensity = np.where(above, intensity, instrument.transmission_strength * intensity * np.exp(alpha_f / 0.1))
    alpha_i = geometry.incidence_angle_deg
    substrate = (transmission_squared(np.clip(alpha_f, 0, None), geometry.energy_kev)
                 * transmission_squared(np.array(alpha_i), geometry.energy_kev))
    substrate = substrate / max(substrate.max(), 1e-30) * (1 + (qy * instrument.roughness_length_nm) ** 2) ** -1.5
    intensity += instrument.yoneda_strength * np.where(above, substrate, 0.0)
    pixel_deg = math.degrees(min(geometry.pixel_size_mm) / geometry.distance_mm)
    rod = np.exp(-0.5 * (two_theta / (1.2 * pixel_deg)) ** 2)
    reflectivity = _reflectivity(np.clip((alpha_i + alpha_f) / 2, 0, None), geometry)
    reflectivity = reflectivity / _reflectivity(np.array(alpha_i), geometry)
    peak = 1 + 30 * np.exp(-0.5 * ((alpha_f - alpha_i) / (1.5 * pixel_deg)) ** 2)
    intensity += instrument.specular_strength * np.where(above, reflectivity * rod * peak, 0.0) / 31
    x0, y0 = geometry.beam_centre_px
    radius_px = np.hypot(x_px - x0, y_px - y0)
    intensity += instrument.direct_beam_strength * np.exp(-0.5 * (radius_px / 1.5) ** 2)
    halo = (1 + (radius_px / instrument.parasitic_radius_px) ** 2) ** -1.5
    streak = np.exp(-np.abs(y_px - y0) / 2.0) / (1 + np.abs(x_px - x0) / (4 * instrument.parasitic_radius_px))
    intensity += instrument.parasitic_strength * (halo + 0.1 * streak)
    intensity += instrument.constant_background

    beam_stop = _beam_stop(layout, geometry, instrument)
    if beam_stop is not None:
        x_min, x_max, y_min, y_max = beam_stop
        intensity[y_min:y_max + 1, x_min:x_max + 1] *= instrument.beam_stop_transmission
    return intensity, beam_stop


def count_photons(
    intensity: np.ndarray,
    *,
    layout: DetectorLayout,
    total_counts: float,
    bad_pixel_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw ``total_counts`` expected photons (Poisson) over the live pixels of ``intensity`` (rows, columns).

    Returns int32 counts, -1 in the layout's module gaps and -2 on pixels drawn bad
    (each with probability ``bad_pixel_fraction``).
    """
    gaps = layout.gap_mask()
    bad = rng.random(layout.shape) < bad_pixel_fraction
    live = ~gaps & ~bad
    rate = intensity * (total_counts / intensity[live].sum())
    counts = rng.poisson(rate).astype(np.int32)
    counts[bad] = BAD_PIXEL_VALUE
    counts[gaps] = GAP_VALUE
    return counts


@dataclasses.dataclass(frozen=True)
class RealisticFrame:
    """One realistic detector frame and what made it.

    Attributes
    ----------
    counts : numpy.ndarray
        int32 (rows, columns): photon counts, -1 in gaps, -2 on bad pixels.
    geometry : DetectorGeometry
        The frame's geometry (written into the file header).
    beam_stop_px : tuple of int or None
        Beam-stop rectangle ``(x_min, x_max, y_min, y_max)``, px.
    label : str
        Class name, or ``"monolayer"``, ``"disordered"``, ``"empty"`` for films of no class.
    nn_distance_nm : float
        Nearest-neighbour distance of the film's spheres, nm (NaN for an empty frame).
    instrument : Instrument
        Artefact levels.
    film_parameters : dict of str to float
        The simulator's draw for a superlattice or disordered film (``repetitions_lateral``:
        the grain's width in cells, ``repetitions_vertical``: its height in cells, and the
        rest of :func:`~..simulation.sample_parameters` but the energy and incidence angle,
        which are the geometry's); empty for monolayers and empty frames.
    """

    counts: np.ndarray
    geometry: DetectorGeometry
    beam_stop_px: tuple[int, int, int, int] | None
    label: str
    nn_distance_nm: float
    instrument: Instrument
    film_parameters: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def live_fraction(self) -> float:
        """Fraction of pixels holding counts (not gaps, bad pixels or beam stop)."""
        live = self.counts >= 0
        if self.beam_stop_px is not None:
            x_min, x_max, y_min, y_max = self.beam_stop_px
            live[y_min:y_max + 1, x_min:x_max + 1] = False
        return float(live.mean())


@dataclasses.dataclass(frozen=True)
class FilmDraw:
    """The random draws of a superlattice film that do not depend on its class.

    :func:`sample_parameters` consumes its generator alike for every class, so one draw
    gives each class's film under the same conditions (grain size, disorder, orientation
    as a fraction of the class's symmetry wedge): what :mod:`.ideal_observer` compares.

    Attributes
    ----------
    fixed : dict of str to float
        Simulator parameters fixed by the frame: nearest-neighbour distance (nm), the
        resolution (nm^-1, 0.6-1.2 pixels at the geometry), and for a disordered film a
        Debye-Waller fraction of 0.5.
    generator_seed : int
        Seed of the simulator's generator for the remaining parameters.
    """

    fixed: dict[str, float]
    generator_seed: int

    @classmethod
    def sample(cls, rng: np.random.Generator, *, geometry: DetectorGeometry, nn_distance_nm: float,
               disordered: bool = False, overrides: dict[str, float] | None = None) -> "FilmDraw":
        """Draw the conditions of a film of ``nn_distance_nm`` (nm) at ``geometry``; ``overrides`` fix more parameters."""
        fixed = {"nn_distance_nm": float(nn_distance_nm),
                 "resolution_sigma_nm": pixel_resolution_nm(geometry) * rng.uniform(0.6, 1.2)}
        if disordered:
            fixed["debye_waller_fraction"] = 0.5
        fixed.update(overrides or {})
        return cls(fixed, int(rng.integers(2**62)))

    def parameters(self, label: int, config: SimulationConfig) -> dict[str, torch.Tensor]:
        """The simulator's parameters of this film as class ``label`` (one pattern)."""
        generator = torch.Generator().manual_seed(self.generator_seed)
        return sample_parameters(torch.tensor([label]), config, generator, overrides=self.fixed)


FILM_KINDS: tuple[str, ...] = (*CLASS_NAMES, "monolayer", "disordered", "empty")
"""What :func:`realistic_frame` can put on the detector: a superlattice class or a film of no class."""


def realistic_frame(
    kind: str,
    *,
    nn_distance_nm: float,
    seed: int,
    layout: DetectorLayout = PILATUS_1M,
    geometry: DetectorGeometry | None = None,
    instrument: Instrument | None = None,
    config: SimulationConfig | None = None,
    overrides: dict[str, float] | None = None,
) -> RealisticFrame:
    """One realistic frame of a superlattice class (or ``"monolayer"``, ``"disordered"``, ``"empty"``).

    Parameters
    ----------
    kind : str
        One of :data:`FILM_KINDS`. ``"disordered"``: FCC111 spheres displaced by 50 % of
        their distance (no Bragg rods left, the diffuse scattering of the spheres remains).
    nn_distance_nm : float
        Nearest-neighbour distance, nm (10-150 for real films).
    seed : int
        Seeds the simulator's parameters, the geometry, the artefacts and the counts.
    layout : DetectorLayout
        Detector (default Pilatus 1M).
    geometry, instrument : optional
        Fixed instead of drawn with :func:`sample_geometry` / :func:`sample_instrument`.
    config : SimulationConfig, optional
        Simulator settings; its nn-distance range is ignored (``nn_distance_nm`` is used).
    overrides : dict, optional
        Further simulator parameters fixed (see :func:`~..simulation.sample_parameters`).

    Examples
    --------
    >>> frame = realistic_frame("FCC111", nn_distance_nm=100.0, seed=1, layout=SMALL_DETECTOR)  # doctest: +SKIP
    """
    if kind not in FILM_KINDS:
        raise ValueError(f"kind must be one of {FILM_KINDS}, got {kind!r}")
    if not (math.isfinite(nn_distance_nm) and nn_distance_nm > 0):
        raise ValueError(f"nn_distance_nm must be a finite number > 0, got {nn_distance_nm}")
    rng = np.random.default_rng(seed)
    geometry = geometry or sample_geometry(rng, layout=layout, nn_distance_nm=nn_distance_nm)
    instrument = instrument or sample_instrument(rng)
    film_parameters: dict[str, float] = {}
    if kind == "empty":
        film = np.zeros(layout.shape)
    elif kind == "monolayer":
        film = monolayer_film(rng, layout=layout, geometry=geometry, nn_distance_nm=nn_distance_nm)
    else:
        config = config or SimulationConfig()
        draw = FilmDraw.sample(rng, geometry=geometry, nn_distance_nm=nn_distance_nm,
                               disordered=kind == "disordered", overrides=overrides)
        params = draw.parameters(class_index("FCC111" if kind == "disordered" else kind), config)
        film = superlattice_film(params, layout=layout, geometry=geometry, config=config)
        film_parameters = film_record(params)
    counts, beam_stop = render_frame(film, layout=layout, geometry=geometry, instrument=instrument, rng=rng)
    return RealisticFrame(counts, geometry, beam_stop, kind, float(nn_distance_nm) if kind != "empty" else float("nan"),
                          instrument, film_parameters)


def film_record(params: dict[str, torch.Tensor]) -> dict[str, float]:
    """A frame's record of its film: the simulator's scalar parameters but the energy and incidence angle (the geometry's)."""
    return {name: float(value) for name, value in params.items()
            if value.numel() == 1 and name not in ("energy_kev", "alpha_i_deg")}


def write_realistic_frame(path: str | os.PathLike, frame: RealisticFrame) -> Path:
    """Write the frame's counts with its geometry in the header (format from the suffix: .tif .edf .cbf .h5)."""
    return write_frames(path, frame.counts, geometry=frame.geometry)


def transmission_squared(alpha_deg: np.ndarray, energy_kev: float) -> np.ndarray:
    """|1 + r(alpha)|^2 of the Si substrate at ``energy_kev`` (the Yoneda enhancement); ``alpha_deg`` >= 0."""
    delta, beta = silicon_refractive_index(energy_kev)
    r = reflection_coefficient(torch.as_tensor(np.radians(alpha_deg), dtype=torch.float64),
                               delta=torch.tensor(delta, dtype=torch.float64), beta=torch.tensor(beta, dtype=torch.float64))
    return (1 + r).abs().square().numpy()


def _reflectivity(alpha_deg: np.ndarray, geometry: DetectorGeometry) -> np.ndarray:
    """|r(alpha)|^2 of the Si substrate at the geometry's energy."""
    delta, beta = silicon_refractive_index(geometry.energy_kev)
    r = reflection_coefficient(torch.as_tensor(np.radians(alpha_deg), dtype=torch.float64),
                               delta=torch.tensor(delta, dtype=torch.float64), beta=torch.tensor(beta, dtype=torch.float64))
    return r.abs().square().numpy()


def _beam_stop(layout: DetectorLayout, geometry: DetectorGeometry, instrument: Instrument):
    """The beam-stop bar over the direct beam and the specular rod, clipped to the detector; None if width 0."""
    if instrument.beam_stop_width_px == 0:
        return None
    rows, columns = layout.shape
    x0, y0 = geometry.beam_centre_px
    pixel = min(geometry.pixel_size_mm)
    alpha_i = math.radians(geometry.incidence_angle_deg)
    horizon = y0 - geometry.distance_mm * math.tan(alpha_i) / pixel
    specular = y0 - geometry.distance_mm * math.tan(2 * alpha_i) / pixel
    top = max(specular, horizon - 4 * instrument.beam_stop_above_horizon_px) - instrument.beam_stop_above_horizon_px
    half = instrument.beam_stop_width_px / 2
    x_min, x_max = int(max(round(x0 - half), 0)), int(min(round(x0 + half), columns - 1))
    y_min, y_max = int(min(max(round(top), 0), rows - 1)), int(min(round(y0 + 2 * half + 10), rows - 1))
    return x_min, x_max, y_min, y_max
