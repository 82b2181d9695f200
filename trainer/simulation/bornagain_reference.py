"""BornAgain models of the same samples, the independent reference of the simulator.

Used by the agreement tests, the benchmark and the montage; needs the
``validation`` extra (``bornagain==25.*``), imported on first use.

BornAgain evaluates q = k_i - k_f and forms factors with exp(i q . r); the pixel
directions of its ``SphericalDetector`` are read back from BornAgain itself (a
probe form factor records every q it is asked for), so both simulators are
compared on exactly the same wavevector transfers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xicam_gisaxs_cnn.classes import CLASSES
from xicam_gisaxs_cnn.physics import silicon_refractive_index, wavelength_nm

from .lattices import IDEAL_HCP_C_OVER_A, cell_for_class


@dataclass(frozen=True)
class Detector:
    """An angular detector: ``n x n`` bins over 2theta_f and alpha_f ranges, degrees.

    The default spans about the canonical window at 10 keV (|qy| <= 1 nm^-1,
    qz <= 2 nm^-1).
    """

    pixels: int = 40
    two_theta_f_deg: tuple[float, float] = (-1.15, 1.15)
    alpha_f_deg: tuple[float, float] = (0.0, 2.1)


def _ba():
    import bornagain

    return bornagain


def _detector(detector: Detector):
    ba = _ba()
    return ba.SphericalDetector(
        detector.pixels, math.radians(detector.two_theta_f_deg[0]), math.radians(detector.two_theta_f_deg[1]),
        detector.pixels, math.radians(detector.alpha_f_deg[0]), math.radians(detector.alpha_f_deg[1]),
    )


class _QProbe:
    """A Python form factor that records the q vectors BornAgain evaluates."""

    def __init__(self) -> None:
        self.q: list[tuple[float, float, float]] = []

    def formfactor(self, q):
        self.q.append((q.x().real, q.y().real, q.z().real))
        return 1.0 + 0.0j

    def radialExtension(self) -> float:
        return 1.0

    def zBottom(self, *rotation) -> float:
        return 0.0

    def zTop(self, *rotation) -> float:
        return 1.0

    def className(self) -> str:
        return "QProbe"


def detector_exit_angles(
    detector: Detector, *, energy_kev: float, alpha_i_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exit angles (alpha_f, 2theta_f), degrees, shape (n, n), of BornAgain's pixels.

    Row ``i`` is the ``i``-th alpha_f bin counted upwards (BornAgain's order).
    """
    ba = _ba()
    probe = _QProbe()
    layer = ba.Layer(ba.Vacuum())
    layer.deposit2D(ba.Dilute2D(1e-6, ba.Particle(ba.RefractiveMaterial("probe", (0.5, 0.5, 0.5), 1e-6, 0.0), probe)))
    sample = ba.Sample()
    sample.addLayer(layer)
    sample.addLayer(ba.Layer(ba.Vacuum()))
    beam = ba.Beam(1.0, wavelength_nm(energy_kev), math.radians(alpha_i_deg))
    simulation = ba.ScatteringSimulation(beam, sample, _detector(detector))
    simulation.options().setNumberOfThreads(1)
    simulation.simulate()
    n = detector.pixels
    q = np.asarray(probe.q[-4 * n * n:]).reshape(n * n, 4, 3)[:, 0, :]  # first DWBA path: q = k_i - k_f
    k = 2.0 * math.pi / wavelength_nm(energy_kev)
    alpha_i = math.radians(alpha_i_deg)
    k_f = np.array([k * math.cos(alpha_i), 0.0, -k * math.sin(alpha_i)]) - q
    alpha_f = np.degrees(np.arcsin(np.clip(k_f[:, 2] / k, -1, 1)))
    two_theta = np.degrees(np.arctan2(k_f[:, 1], k_f[:, 0]))
    return alpha_f.reshape(n, n), two_theta.reshape(n, n)


@dataclass(frozen=True)
class Grain:
    """One perfect grain: the fixed configuration both simulators are given.

    ``repetitions_lateral`` must be odd: BornAgain's mesocrystal keeps the lattice
    points inside its (centred) outer box, boundary included, so only an odd count
    is a whole number of cells on both sides.
    """

    label: int
    nn_distance_nm: float = 20.0
    radius_nm: float = 6.0
    repetitions_lateral: int = 3
    repetitions_vertical: int = 2
    in_plane_angle_deg: float = 0.0
    compression: float = 0.0
    hcp_c_over_a: float = IDEAL_HCP_C_OVER_A
    alpha_i_deg: float = 0.2
    energy_kev: float = 10.0

    def __post_init__(self) -> None:
        if self.repetitions_lateral % 2 != 1:
            raise ValueError(f"repetitions_lateral must be odd, got {self.repetitions_lateral}")

    def params(self) -> dict:
        """The grain as a ``params`` dict of :func:`simulate_angles` (batch of one)."""
        import torch

        values = {
            "nn_distance_nm": self.nn_distance_nm, "radius_nm": self.radius_nm,
            "repetitions_lateral": float(self.repetitions_lateral),
            "repetitions_vertical": float(self.repetitions_vertical),
            "in_plane_angle_deg": self.in_plane_angle_deg, "compression": self.compression,
            "hcp_c_over_a": self.hcp_c_over_a, "alpha_i_deg": self.alpha_i_deg, "energy_kev": self.energy_kev,
        }
        params = {name: torch.tensor([value], dtype=torch.float64) for name, value in values.items()}
        params["label"] = torch.tensor([self.label])
        return params


def _mesocrystal(grain: Grain):
    """The grain as a BornAgain mesocrystal: spheres on the oriented lattice inside a box."""
    ba = _ba()
    cell = cell_for_class(CLASSES[grain.label].name)
    a, b, c = (edge * grain.nn_distance_nm for edge in cell.edges)
    if cell.name == "HCP0001":
        c = grain.hcp_c_over_a * grain.nn_distance_nm
    c *= 1.0 - grain.compression
    material = ba.RefractiveMaterial("nanoparticle", (0.8, 0.6, 0.2), 1e-5, 0.0)
    basis = ba.Compound()
    basis.addComponents(
        ba.Particle(material, ba.Sphere(grain.radius_nm)),
        [ba.R3(x * a, y * b, z * c) for x, y, z in cell.basis],
    )
    lattice = ba.Lattice3D(ba.R3(a, 0.0, 0.0), ba.R3(0.0, b, 0.0), ba.R3(0.0, 0.0, c))
    n, n_z = grain.repetitions_lateral, grain.repetitions_vertical
    outer = ba.Box(n * a, n * b, (n_z - 0.5) * c)  # keeps lattice points z = 0 .. (n_z - 1) c
    mesocrystal = ba.Mesocrystal(ba.Crystal(basis, lattice), outer)
    if grain.in_plane_angle_deg:
        mesocrystal.rotate(ba.RotationZ(math.radians(grain.in_plane_angle_deg)))
    return mesocrystal


def _sample(grain: Grain, *, born: bool):
    ba = _ba()
    ambient = ba.Layer(ba.Vacuum())
    ambient.deposit2D(ba.Dilute2D(1e-6, _mesocrystal(grain)))
    delta, beta = silicon_refractive_index(grain.energy_kev)
    substrate = ba.Vacuum() if born else ba.RefractiveMaterial("Si", (0.5, 0.5, 0.5), delta, beta)
    sample = ba.Sample()
    sample.addLayer(ambient)
    sample.addLayer(ba.Layer(substrate))
    return sample


def bornagain_pattern(grain: Grain, detector: Detector = Detector(), *, born: bool = False, threads: int = 0) -> np.ndarray:
    """BornAgain's intensity of one grain on a detector, shape (n, n), row 0 the lowest alpha_f.

    Direct summation over the lattice sites (not the approximate reciprocal
    sum) and no averaging of the slice materials, so the result is exact DWBA.
    """
    ba = _ba()
    beam = ba.Beam(1.0, wavelength_nm(grain.energy_kev), math.radians(grain.alpha_i_deg))
    simulation = ba.ScatteringSimulation(beam, _sample(grain, born=born), _detector(detector))
    simulation.options().setUseAvgMaterials(False)
    simulation.options().setMesoReciprocalSum(False, 1.0)
    simulation.options().setNumberOfThreads(threads)
    result = simulation.simulate()
    return np.asarray(result.flatVector()).reshape(detector.pixels, detector.pixels)
