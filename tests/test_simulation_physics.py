"""Physics of the GISAXS simulator checked on its own, against independent references."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.canonical import pixel_size_nm, qy_nm, qz_nm
from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.physics import critical_angle_deg, silicon_refractive_index, wavenumber_nm
from xicam_gisaxs_cnn_trainer.simulation import (
    PARAMETER_NAMES,
    SimulationConfig,
    canonical_exit_angles,
    sample_parameters,
    simulate,
    simulate_angles,
)
from xicam_gisaxs_cnn_trainer.simulation.dwba import (
    broadened_dirichlet_intensity,
    dirichlet_amplitude,
    dirichlet_intensity,
    sphere_form_factor,
)
from xicam_gisaxs_cnn_trainer.simulation.fresnel import reflection_coefficient
from xicam_gisaxs_cnn_trainer.simulation.geometry import exit_angles_from_q
from xicam_gisaxs_cnn_trainer.simulation.lattices import IDEAL_HCP_C_OVER_A, cell_for_class
from xicam_gisaxs_cnn_trainer.simulation.simulator import _ring_groups

DOUBLE = SimulationConfig(dtype="float64", in_plane="grains")
DELTA, BETA = silicon_refractive_index(10.0)
K = wavenumber_nm(10.0)


def grain(label: int, **values) -> dict:
    """A batch of one perfect grain (defaults: d = 20 nm, R = 6 nm, 3 x 3 x 2 cells)."""
    base = dict(nn_distance_nm=20.0, radius_nm=6.0, repetitions_lateral=3.0, repetitions_vertical=2.0,
                in_plane_angle_deg=0.0, alpha_i_deg=0.2, energy_kev=10.0)
    base.update(values)
    params = {name: torch.tensor([float(value)], dtype=torch.float64) for name, value in base.items()}
    params["label"] = torch.tensor([label])
    return params


# --- references written independently of the package, in numpy complex128 -------------------------------

def fresnel_reference(alpha_rad: np.ndarray) -> np.ndarray:
    """Textbook r = (n1 sin a1 - n2 sin a2) / (n1 sin a1 + n2 sin a2) with Snell's law, n1 = 1."""
    n2 = 1.0 - DELTA + 1j * BETA
    cos_t = np.cos(alpha_rad) / n2
    sin_t = np.sqrt(1.0 - cos_t**2 + 0j)
    sin_t = np.where(sin_t.imag < 0, -sin_t, sin_t)
    return (np.sin(alpha_rad) - n2 * sin_t) / (np.sin(alpha_rad) + n2 * sin_t)


def lattice_sites(name: str, *, d: float, n: int, n_z: int) -> np.ndarray:
    """Sphere centres of an n x n x n_z block of cells (nm), bottom layer at z = 0."""
    cell = cell_for_class(name)
    a, b, c = (edge * d for edge in cell.edges)
    return np.array([
        ((i + x) * a, (j + y) * b, (l + z) * c)
        for i in range(n) for j in range(n) for l in range(n_z) for x, y, z in cell.basis
    ])


def brute_force_intensity(sites: np.ndarray, radii: np.ndarray, alpha_f: np.ndarray, two_theta: np.ndarray,
                          *, angle_deg: float = 0.0, alpha_i_deg: float = 0.2) -> np.ndarray:
    """|sum over spheres and the four DWBA paths|^2, sphere by sphere (centres lifted by the mean radius)."""
    ai, af, tt = math.radians(alpha_i_deg), np.radians(alpha_f), np.radians(two_theta)
    qx = K * (np.cos(af) * np.cos(tt) - math.cos(ai))
    qy = K * np.cos(af) * np.sin(tt)
    kz_i, kz_f = K * math.sin(ai), K * np.sin(af)
    r_i, r_f = fresnel_reference(np.array(ai)), fresnel_reference(af)
    phi = math.radians(angle_deg)
    rotated = sites @ np.array([[math.cos(phi), math.sin(phi), 0], [-math.sin(phi), math.cos(phi), 0], [0, 0, 1]])
    rotated = rotated + np.array([0.0, 0.0, radii.mean()])
    amplitude = np.zeros(af.shape, complex)
    for qz, w in ((kz_f + kz_i, 1.0), (kz_f - kz_i, r_i), (kz_i - kz_f, r_f), (-kz_f - kz_i, r_i * r_f)):
        q = np.sqrt(qx**2 + qy**2 + qz**2)
        for (x, y, z), radius in zip(rotated, radii):
            qr = q * radius
            form = 4 * np.pi * (np.sin(qr) - qr * np.cos(qr)) / q**3
            amplitude += w * form * np.exp(-1j * (qx * x + qy * y + qz * z))
    return np.abs(amplitude) ** 2


def detector(n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    alpha_f, two_theta = np.meshgrid(np.linspace(0.05, 2.0, n), np.linspace(-1.1, 1.1, n), indexing="ij")
    return alpha_f, two_theta


# --- Fresnel coefficient ---------------------------------------------------------------------------------

def test_fresnel_coefficient_is_total_below_critical_angle_and_vanishes_far_above():
    critical = math.radians(critical_angle_deg(DELTA))
    alpha = torch.tensor([0.3, 0.6, 0.9, 1.1, 3.0, 10.0, 30.0], dtype=torch.float64) * critical
    r = reflection_coefficient(alpha, delta=torch.tensor(DELTA, dtype=torch.float64), beta=torch.tensor(BETA, dtype=torch.float64))
    assert torch.all(r[:3].abs() > 0.95)  # total reflection, less the absorption (beta / delta = 0.015)
    assert r[-1].abs() < 0.001
    # far above the critical angle |r| -> (alpha_c / 2 alpha)^2
    assert r[-1].abs().item() == pytest.approx((1 / 60) ** 2, rel=0.01)
    np.testing.assert_allclose(r.numpy(), fresnel_reference(alpha.numpy()), rtol=1e-9, atol=1e-12)


def test_fresnel_coefficient_is_accurate_in_float32_near_the_critical_angle():
    critical = math.radians(critical_angle_deg(DELTA))
    alpha = torch.linspace(0.9, 1.1, 41, dtype=torch.float64) * critical
    r32 = reflection_coefficient(alpha.float(), delta=torch.tensor(DELTA), beta=torch.tensor(BETA))
    np.testing.assert_allclose(r32.numpy(), fresnel_reference(alpha.numpy()), atol=2e-3)


def test_yoneda_peak_sits_at_the_critical_angle():
    """DWBA / Born of a tiny sphere on Si peaks where |1 + r(alpha_f)|^2 does: at the critical angle."""
    alpha_f = np.linspace(0.02, 0.5, 481)[:, None]
    params = grain(0, repetitions_lateral=1, repetitions_vertical=1, radius_nm=0.3)
    dwba = simulate_angles(params, alpha_f_deg=alpha_f, two_theta_f_deg=np.zeros_like(alpha_f), config=DOUBLE)[0, :, 0]
    born = simulate_angles(params, alpha_f_deg=alpha_f, two_theta_f_deg=np.zeros_like(alpha_f),
                           config=SimulationConfig(dtype="float64", born=True, in_plane="grains"))[0, :, 0]
    peak = alpha_f[int(torch.argmax(dwba / born)), 0]
    transmission = np.abs(1 + fresnel_reference(np.radians(alpha_f[:, 0]))) ** 2
    assert peak == pytest.approx(alpha_f[np.argmax(transmission), 0], abs=0.0011)
    assert peak == pytest.approx(critical_angle_deg(DELTA), abs=0.005)  # absorption moves it 0.003 deg lower
    assert (dwba / born).max() > 3.0


# --- form factor and lattice sums --------------------------------------------------------------------------

def test_sphere_form_factor_is_the_volume_at_zero_and_vanishes_at_its_first_zero():
    radius = torch.tensor(5.0, dtype=torch.float64)
    q = torch.tensor([0.0, 1e-4, 4.493409457909064 / 5.0], dtype=torch.float64)
    form = sphere_form_factor(q, radius)
    assert form[0].item() == pytest.approx(4 / 3 * math.pi * 125)
    assert form[1].item() == pytest.approx(4 / 3 * math.pi * 125, rel=1e-7)
    assert abs(form[2].item()) < 1e-9


def test_dirichlet_kernels_equal_explicit_sums():
    phase = torch.linspace(-20.0, 20.0, 2001, dtype=torch.float64)
    for count in (1, 2, 7, 200):
        explicit = torch.exp(1j * phase[:, None] * torch.arange(count, dtype=torch.float64)[None, :]).sum(1)
        n = torch.tensor(float(count), dtype=torch.float64)
        np.testing.assert_allclose(dirichlet_amplitude(phase, n).numpy(), explicit.numpy(), atol=1e-8 * count)
        np.testing.assert_allclose(dirichlet_intensity(phase, n).numpy(), (explicit.abs() ** 2).numpy(), rtol=1e-7, atol=1e-7 * count)


def test_broadened_kernel_keeps_the_integrated_peak_and_equals_the_gaussian_average():
    counts = torch.tensor([1.0, 5.0, 200.0], dtype=torch.float64)
    sigma = torch.tensor([0.3, 0.05, 0.02], dtype=torch.float64)
    phase = torch.linspace(-math.pi, math.pi, 20001, dtype=torch.float64)[None, :].repeat(3, 1)
    smooth = broadened_dirichlet_intensity(phase, counts, sigma)
    integral = torch.trapezoid(smooth, phase[0], dim=1)
    np.testing.assert_allclose(integral.numpy(), (2 * math.pi * counts).numpy(), rtol=1e-3)
    # reference: the exact kernel averaged over a Gaussian phase spread by brute-force quadrature
    offsets = torch.linspace(-6, 6, 6001, dtype=torch.float64)
    for row, (count, s) in enumerate(zip(counts, sigma)):
        points = torch.tensor([0.0, 0.01, 0.5, 2.0], dtype=torch.float64)
        weights = torch.exp(-0.5 * offsets**2)
        exact = dirichlet_intensity(points[:, None] + s * offsets[None, :], count)
        expected = (exact * weights).sum(1) / weights.sum()
        got = broadened_dirichlet_intensity(points[None, :], count[None], s[None])[0]
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=2e-3, atol=1e-6 * count.item())
    # a sample without broadening in the batch gets the exact kernel
    phase = torch.tensor([[0.0, 0.3, 1.0], [0.0, 0.3, 1.0]], dtype=torch.float64)
    mixed = broadened_dirichlet_intensity(phase, torch.tensor([7.0, 7.0], dtype=torch.float64),
                                          torch.tensor([0.0, 0.2], dtype=torch.float64))
    np.testing.assert_allclose(mixed[0].numpy(), dirichlet_intensity(phase[0], torch.tensor(7.0)).numpy(), rtol=1e-4)
    assert mixed[1, 0] < mixed[0, 0]


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_lattice_sum_equals_brute_force_sum_over_sphere_positions(name):
    label = CLASS_NAMES.index(name)
    alpha_f, two_theta = detector()
    ours = simulate_angles(grain(label, repetitions_lateral=3, repetitions_vertical=2, in_plane_angle_deg=23.0),
                           alpha_f_deg=alpha_f, two_theta_f_deg=two_theta, config=DOUBLE)[0].numpy()
    sites = lattice_sites(name, d=20.0, n=3, n_z=2)
    reference = brute_force_intensity(sites, np.full(len(sites), 6.0), alpha_f, two_theta, angle_deg=23.0) / len(sites)
    np.testing.assert_allclose(ours, reference, rtol=1e-8, atol=1e-8 * reference.max())


def _neighbour_shells(sites: np.ndarray, centre: np.ndarray, d: float, shells: float = 1.75) -> np.ndarray:
    distances = np.linalg.norm(sites - centre, axis=1) / d
    return np.sort(np.round(distances[(distances > 1e-9) & (distances < shells)], 6))


@pytest.mark.parametrize("name, reference", [
    ("SC100", "sc"), ("SC110", "sc"), ("BCC100", "bcc"), ("BCC110", "bcc"),
    ("FCC100", "fcc"), ("FCC111", "fcc"), ("HCP0001", "hcp"),
])
def test_cells_reproduce_the_cubic_and_hexagonal_lattices(name, reference):
    """Neighbour shells of a site deep inside the oriented block equal those of the textbook lattice."""
    d = 1.0
    sites = lattice_sites(name, d=d, n=8, n_z=8 if name not in ("FCC111", "HCP0001") else 4)
    centre = sites[np.argmin(np.linalg.norm(sites - sites.mean(0), axis=1))]
    if reference == "hcp":
        a1, a2 = np.array([1.0, 0, 0]), np.array([0.5, math.sqrt(3) / 2, 0])
        c = np.array([0, 0, IDEAL_HCP_C_OVER_A])
        textbook = np.array([i * a1 + j * a2 + k * c + s * ((a1 + a2) / 3 + c / 2)
                             for i in range(-4, 5) for j in range(-4, 5) for k in range(-3, 4) for s in (0, 1)])
    else:
        basis = {"sc": [(0, 0, 0)], "bcc": [(0, 0, 0), (.5, .5, .5)],
                 "fcc": [(0, 0, 0), (.5, .5, 0), (.5, 0, .5), (0, .5, .5)]}[reference]
        cube = {"sc": 1.0, "bcc": 2 / math.sqrt(3), "fcc": math.sqrt(2)}[reference]
        textbook = cube * np.array([(i + x, j + y, k + z) for i in range(-4, 5) for j in range(-4, 5)
                                    for k in range(-4, 5) for x, y, z in basis])
    expected = _neighbour_shells(textbook, np.zeros(3), d)
    np.testing.assert_allclose(_neighbour_shells(sites, centre, d), expected, atol=1e-6)


def test_fcc111_and_hcp0001_differ_in_their_stacking():
    fcc = lattice_sites("FCC111", d=1.0, n=6, n_z=3)
    hcp = lattice_sites("HCP0001", d=1.0, n=6, n_z=4)
    # third close-packed layer of FCC (C) is not above the first (A); that of HCP is
    fcc_layer = fcc[np.isclose(fcc[:, 2], 2 * math.sqrt(2 / 3))][:, :2]
    hcp_layer = hcp[np.isclose(hcp[:, 2], IDEAL_HCP_C_OVER_A)][:, :2]
    assert not np.any(np.all(np.isclose(fcc_layer, 0.0), axis=1))
    assert np.any(np.all(np.isclose(hcp_layer, 0.0), axis=1))


# --- disorder, orientation averaging, broadening -------------------------------------------------------------

def test_diffuse_scattering_equals_the_average_over_random_crystals():
    """Coherent + diffuse intensity = Monte Carlo mean over displaced, polydisperse spheres."""
    rng = np.random.default_rng(0)
    alpha_f, two_theta = detector(6)
    sigma, spread = 1.5, 0.1
    sites = lattice_sites("BCC100", d=20.0, n=2, n_z=2)
    samples = [
        brute_force_intensity(sites + rng.normal(0, sigma, sites.shape),
                              6.0 * (1 + spread * rng.standard_normal(len(sites))), alpha_f, two_theta)
        for _ in range(1500)
    ]
    # brute force lifts sites by the mean of the drawn radii; keep their height fixed to the nominal radius
    mean = np.mean(samples, axis=0) / len(sites)
    error = np.std(samples, axis=0) / math.sqrt(len(samples)) / len(sites)
    params = grain(2, repetitions_lateral=2, repetitions_vertical=2, debye_waller_nm=sigma, polydispersity=spread)
    ours = simulate_angles(params, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta,
                           config=SimulationConfig(dtype="float64", radius_quadrature=21, in_plane="grains"))[0].numpy()
    assert np.all(np.abs(ours - mean) < 5 * error + 0.02 * mean)
    perfect = simulate_angles(grain(2, repetitions_lateral=2, repetitions_vertical=2), alpha_f_deg=alpha_f,
                              two_theta_f_deg=two_theta, config=DOUBLE)[0].numpy()
    assert np.mean(np.abs(perfect - mean) > 5 * error + 0.02 * mean) > 0.3  # the disorder matters


def test_grains_are_averaged_incoherently():
    alpha_f, two_theta = detector()
    params = grain(5, repetitions_lateral=7, in_plane_angle_deg=5.0)
    params["grain_offsets_deg"] = torch.tensor([[0.0, 12.0]], dtype=torch.float64)
    both = simulate_angles(params, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta, config=DOUBLE)
    each = [simulate_angles(grain(5, repetitions_lateral=7, in_plane_angle_deg=angle), alpha_f_deg=alpha_f,
                            two_theta_f_deg=two_theta, config=DOUBLE) for angle in (5.0, 17.0)]
    torch.testing.assert_close(both, (each[0] + each[1]) / 2)


def test_bragg_peaks_sit_at_the_in_plane_reciprocal_lattice():
    """SC100 at 0 deg: peaks at qy = 2 pi m / d; HCP0001 at 0 deg: first peak along qy at 4 pi / (sqrt3 d).

    (A finite block is symmetric under the lattice's in-plane rotations only at the
    Bragg peaks: a rotated basis ends differently at the block's faces.)
    """
    d = 20.0
    qy = torch.as_tensor(qy_nm())
    row = int(np.argmin(np.abs(qz_nm() - 0.6)))
    for label, expected in ((0, [2 * math.pi / d * m for m in (1, 2)]), (6, [4 * math.pi / (math.sqrt(3) * d)])):
        params = grain(label, nn_distance_nm=d, repetitions_lateral=61, repetitions_vertical=1,
                       resolution_sigma_nm=pixel_size_nm()[0] / 2)
        profile = simulate(params, config=DOUBLE)[0, row]
        for q in expected:
            window = (qy > q - 0.08) & (qy < q + 0.08)
            peak = qy[window][torch.argmax(profile[window])].item()
            assert peak == pytest.approx(q, abs=pixel_size_nm()[0])
            assert profile[window].max() > 50 * profile[(qy > q + 0.06) & (qy < q + 0.1)].max()


def test_broadening_keeps_peaks_of_large_grains_that_fall_between_pixels():
    """Without broadening a 199-cell grain's peaks are missed by the pixel centres; with it they are not."""
    d = 20.3  # first peak at 0.3095 nm^-1, between the canonical pixels at 0.3065 and 0.3226
    row = int(np.argmin(np.abs(qz_nm() - 0.6)))
    sharp = simulate(grain(0, nn_distance_nm=d, repetitions_lateral=199, repetitions_vertical=1), config=DOUBLE)[0, row]
    broad = simulate(grain(0, nn_distance_nm=d, repetitions_lateral=199, repetitions_vertical=1,
                           resolution_sigma_nm=pixel_size_nm()[0] / 2), config=DOUBLE)[0, row]
    peak = int(np.argmin(np.abs(qy_nm() - 2 * math.pi / d)))
    background = broad[peak + 8]
    assert broad[peak] > 100 * background
    assert sharp[peak] < broad[peak] / 20


def test_pixel_supersampling_integrates_peaks_that_fall_between_pixel_centres():
    """s x s sub-pixels per pixel: a sharp peak between pixel centres is caught, its integral over
    the row is kept, and a smooth single-cell pattern is unchanged (grains, 0 degrees)."""
    d = 20.3  # first peak at 0.3095 nm^-1, 3 sigma from the canonical pixel at 0.3065
    row = int(np.argmin(np.abs(qz_nm() - 0.6)))
    peak = int(np.argmin(np.abs(qy_nm() - 2 * math.pi / d)))
    large = grain(0, nn_distance_nm=d, repetitions_lateral=199, repetitions_vertical=1, resolution_sigma_nm=0.001)

    def row_of(s: int) -> torch.Tensor:
        config = SimulationConfig(dtype="float64", in_plane="grains", pixel_supersampling=s)
        return simulate(large, config=config)[0, row]

    centres, integrated, finer = row_of(1), row_of(8), row_of(16)
    around = slice(peak - 2, peak + 3)
    assert centres[around].sum() < 0.5 * finer[around].sum()  # sampled at the centres, most of the peak is missed
    assert integrated[around].sum().item() == pytest.approx(finer[around].sum().item(), rel=0.1)
    assert integrated[peak] > 100 * integrated[peak + 8]
    smooth = grain(0, nn_distance_nm=d, repetitions_lateral=1, repetitions_vertical=1)
    point = simulate(smooth, config=DOUBLE)[0, 10:90, 20:105]
    averaged = simulate(smooth, config=SimulationConfig(dtype="float64", in_plane="grains", pixel_supersampling=3))[0, 10:90, 20:105]
    assert torch.median((averaged / point - 1).abs()).item() < 0.02


def test_powder_film_equals_grains_averaged_over_every_in_plane_angle():
    """in_plane="powder" (analytic ring average) against 360 grains at 1-degree steps, on a 25 x 25 sub-grid."""
    alpha_f, two_theta = canonical_exit_angles()
    alpha_f, two_theta = alpha_f[::5, ::5], two_theta[::5, ::5]
    count = 360
    for label in (0, 6):  # SC100, HCP0001
        angles = grain(label, repetitions_lateral=12, repetitions_vertical=3, resolution_sigma_nm=0.01)
        angles = {key: value.repeat(count) for key, value in angles.items()}
        angles["in_plane_angle_deg"] = torch.arange(count, dtype=torch.float64)
        averaged = simulate_angles(angles, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta,
                                   config=SimulationConfig(dtype="float64", in_plane="grains", grains=1,
                                                           chunk_size=120)).mean(0)
        one = {key: value[:1] for key, value in angles.items()}
        powder = simulate_angles(one, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta,
                                 config=SimulationConfig(dtype="float64", in_plane="powder"))[0]
        correlation = np.corrcoef(averaged.flatten().numpy(), powder.flatten().numpy())[0, 1]
        assert correlation > 0.98
        assert powder.sum().item() == pytest.approx(averaged.sum().item(), rel=0.15)


def test_powder_rings_sit_at_the_in_plane_reciprocal_lattice_radii():
    """SC100 powder, d = 20 nm: rings at |G_hk| = 2 pi sqrt(h^2 + k^2) / d, for (10), (11), (20)."""
    d = 20.0
    qy = qy_nm()
    row = int(np.argmin(np.abs(qz_nm() - 0.6)))
    params = grain(0, nn_distance_nm=d, repetitions_lateral=100, repetitions_vertical=1, resolution_sigma_nm=0.004)
    profile = simulate(params, config=SimulationConfig(dtype="float64", in_plane="powder"))[0, row].numpy()
    for h, k in ((1, 0), (1, 1), (2, 0)):
        q = 2 * math.pi * math.hypot(h, k) / d
        window = (qy > q - 0.05) & (qy < q + 0.05)
        assert qy[window][np.argmax(profile[window])] == pytest.approx(q, abs=pixel_size_nm()[0])
        assert profile[window].max() > 20 * profile[(qy > q + 0.04) & (qy < q + 0.06)].max()


def test_cost_does_not_grow_with_grain_size():
    """A 200 x 200 x 20-cell grain costs what one cell costs (CPU time, best of interleaved runs)."""
    alpha_f, two_theta = canonical_exit_angles()
    batches = {
        n: {key: value.repeat(8) for key, value in grain(5, repetitions_lateral=n, repetitions_vertical=n_z).items()}
        for n, n_z in ((1.0, 1.0), (200.0, 20.0))
    }
    times = {n: [] for n in batches}
    for _ in range(4):
        for n, params in batches.items():
            start = time.process_time()
            simulate_angles(params, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta)
            times[n].append(time.process_time() - start)
    assert min(times[200.0]) < 1.5 * min(times[1.0])


# --- the interface ------------------------------------------------------------------------------------------------

def assert_one_call_equals_each_alone(params, grids, pixels, config) -> None:
    """One ``simulate_angles`` call on every pattern's own pixel grid gives what each pattern's own call gives."""
    together = simulate_angles(params, alpha_f_deg=np.stack([g[0] for g in grids]),
                               two_theta_f_deg=np.stack([g[1] for g in grids]), config=config, pixel_nm=pixels)
    for index, (alpha_f, two_theta) in enumerate(grids):
        one = {name: value[index:index + 1] for name, value in params.items()}
        alone = simulate_angles(one, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta, config=config,
                                pixel_nm=float(pixels[index]))
        assert float(alone.amax()) > 0
        torch.testing.assert_close(together[index], alone[0], rtol=1e-9, atol=1e-12 * float(alone.amax()))


def test_one_call_with_per_pattern_pixels_equals_one_call_per_pattern():
    config = SimulationConfig(dtype="float64")
    params = sample_parameters(torch.tensor([1, 4, 6]), config, torch.Generator().manual_seed(3))
    geometries = [(8.0, 0.1, 0.5), (12.0, 0.2, 1.0), (17.0, 0.4, 2.0)]  # energy keV, alpha_i deg, q window scale
    params["energy_kev"] = torch.tensor([g[0] for g in geometries], dtype=torch.float64)
    params["alpha_i_deg"] = torch.tensor([g[1] for g in geometries], dtype=torch.float64)
    grids = [exit_angles_from_q(*np.meshgrid(qy_nm() / s, qz_nm() / s), energy_kev=e, alpha_i_deg=a) for e, a, s in geometries]
    pixels = torch.tensor([pixel_size_nm()[0] / s for *_, s in geometries])
    assert_one_call_equals_each_alone(params, grids, pixels, config)
    with pytest.raises(ValueError, match="one per pattern"):
        simulate_angles(params, alpha_f_deg=np.stack([g[0] for g in grids[:2]]),
                        two_theta_f_deg=np.stack([g[1] for g in grids[:2]]), config=config)
    with pytest.raises(ValueError, match="pixel_nm"):
        simulate_angles(params, alpha_f_deg=grids[0][0], two_theta_f_deg=grids[0][1], config=config, pixel_nm=torch.ones(2))


def test_patterns_of_one_class_at_several_window_scales_in_one_call_equal_each_alone():
    # Scaled training: lattice and window shrink together, so every pattern needs the same powder rings; one call
    # tabulates them per pattern (to its own largest q), and gives what each pattern's own call gives.
    config = SimulationConfig(dtype="float64")
    scales = (0.35, 1.0, 2.83, 8.0)
    params = sample_parameters(torch.full((4,), 6), config, torch.Generator().manual_seed(5))
    for name in ("nn_distance_nm", "radius_nm", "debye_waller_nm"):
        params[name] = params[name] * torch.tensor(scales, dtype=torch.float64)
    grids = [exit_angles_from_q(*np.meshgrid(qy_nm() / s, qz_nm() / s), energy_kev=10.0, alpha_i_deg=0.2) for s in scales]
    pixels = torch.tensor([pixel_size_nm()[0] / s for s in scales])
    assert_one_call_equals_each_alone(params, grids, pixels, config)


def test_patterns_share_a_ring_table_only_with_patterns_of_as_many_rings_within_a_factor_2():
    counts = torch.tensor([30, 1, 12, 2, 3, 25, 4, 6])
    groups = _ring_groups(counts)
    assert sorted(torch.cat(groups).tolist()) == list(range(8))
    assert [sorted(counts[group].tolist()) for group in groups] == [[1, 2], [3, 4, 6], [12], [25, 30]]


def test_exit_angles_take_one_beam_per_pattern():
    qy, qz = np.meshgrid(qy_nm(), qz_nm())
    beams = [(8.0, 0.1), (12.0, 0.2), (17.0, 0.5)]
    energy, alpha_i = (np.array(values)[:, None, None] for values in zip(*beams))
    alpha_f, two_theta = exit_angles_from_q(qy[None], qz[None], energy_kev=energy, alpha_i_deg=alpha_i)
    assert alpha_f.shape == two_theta.shape == (3, *qy.shape)
    for index, (e, a) in enumerate(beams):
        one = exit_angles_from_q(qy, qz, energy_kev=e, alpha_i_deg=a)
        np.testing.assert_allclose(alpha_f[index], one[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(two_theta[index], one[1], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="energy_kev must hold finite values > 0"):
        exit_angles_from_q(qy[None], qz[None], energy_kev=np.array([10.0, 0.0])[:, None, None], alpha_i_deg=0.2)
    with pytest.raises(ValueError, match="alpha_i_deg must hold finite values > 0"):
        exit_angles_from_q(qy[None], qz[None], energy_kev=10.0, alpha_i_deg=np.array([0.2, np.nan])[:, None, None])


def test_simulate_is_simulate_angles_on_the_canonical_pixels():
    config = SimulationConfig()
    params = sample_parameters(torch.arange(7), config, torch.Generator().manual_seed(1))
    images = simulate(params, config=config)
    alpha_f, two_theta = canonical_exit_angles(config)
    torch.testing.assert_close(images, simulate_angles(params, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta, config=config,
                                                       pixel_nm=pixel_size_nm()[0]))
    assert images.shape == (7, 125, 125) and images.dtype == torch.float32
    assert torch.isfinite(images).all() and (images >= 0).all()
    below = qz_nm() < K * math.sin(math.radians(config.nominal_alpha_i_deg))
    assert (images[:, below] == 0).all() and (images[:, ~below].amax(dim=(1, 2)) > 0).all()
    # row 0 is qz = 2.0 nm^-1: the exit angle grows upwards
    assert alpha_f[0, 62] > alpha_f[-1, 62]


def test_float32_agrees_with_float64():
    config = SimulationConfig()
    params = sample_parameters(torch.arange(7), config, torch.Generator().manual_seed(2))
    single = simulate(params, config=config).double()
    double = simulate(params, config=SimulationConfig(dtype="float64"))
    valid = double > 0
    correlation = np.corrcoef(single[valid].log().numpy(), double[valid].log().numpy())[0, 1]
    assert correlation > 0.99999


def test_sample_parameters_stays_in_the_configured_ranges():
    config = SimulationConfig()
    labels = torch.arange(7).repeat(300)
    params = sample_parameters(labels, config, torch.Generator().manual_seed(3))
    assert set(params) == set(PARAMETER_NAMES)
    assert all(value.shape[0] == labels.numel() for value in params.values())
    d = params["nn_distance_nm"]
    assert d.min() >= 12 and d.max() <= 35
    ratio = params["radius_nm"] / d
    assert ratio.min() >= 0.15 - 1e-12 and ratio.max() <= 0.40 + 1e-12
    for name, high in (("repetitions_lateral", 200), ("repetitions_vertical", 20)):
        values = params[name]
        assert torch.equal(values, values.round()) and values.min() == 1 and values.max() <= high
        # log-uniform: about as many below sqrt(high) as above
        assert abs((values < math.sqrt(high)).double().mean().item() - 0.5) < 0.06
    assert params["compression"].max() <= 0.2 and params["polydispersity"].max() <= 0.1
    assert (params["debye_waller_nm"] / d).max() <= 0.06 + 1e-12
    assert params["grain_offsets_deg"].shape == (labels.numel(), config.grains)
    wedge = torch.tensor([90.0, 180.0, 90.0, 180.0, 90.0, 120.0, 60.0], dtype=torch.float64)[labels]
    assert (params["in_plane_angle_deg"] >= 0).all() and (params["in_plane_angle_deg"] < wedge).all()
    expected_bins = torch.floor(params["in_plane_angle_deg"] / wedge * config.direction_bins).long()
    assert torch.equal(params["in_plane_direction"], expected_bins)
    assert torch.bincount(params["in_plane_direction"]).min() > 250


def test_sample_parameters_is_reproducible_and_overrides_fix_a_parameter():
    config = SimulationConfig()
    labels = torch.tensor([0, 3, 6, 6])
    first = sample_parameters(labels, config, torch.Generator().manual_seed(4))
    again = sample_parameters(labels, config, torch.Generator().manual_seed(4))
    fixed = sample_parameters(labels, config, torch.Generator().manual_seed(4), overrides={"repetitions_lateral": 10.0})
    for name in PARAMETER_NAMES:
        torch.testing.assert_close(first[name], again[name])
        if name != "repetitions_lateral":
            torch.testing.assert_close(first[name], fixed[name])
    assert (fixed["repetitions_lateral"] == 10).all()
    with pytest.raises(ValueError, match="cannot be fixed"):
        sample_parameters(labels, config, torch.Generator(), overrides={"colour": 1.0})


def test_config_round_trips_through_a_dict_and_rejects_bad_ranges():
    config = SimulationConfig(grains=2, nn_distance_nm_range=(15.0, 20.0))
    assert SimulationConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="nn_distance_nm_range"):
        SimulationConfig(nn_distance_nm_range=(30.0, 20.0))
    with pytest.raises(ValueError, match="dtype"):
        SimulationConfig(dtype="float16")
    with pytest.raises(ValueError, match="unknown"):
        SimulationConfig.from_dict({"speed": 1})


def test_simulate_rejects_bad_parameters():
    with pytest.raises(ValueError, match="repetitions_lateral"):
        simulate(grain(0, repetitions_lateral=2.5))
    with pytest.raises(ValueError, match="radius_nm"):
        simulate(grain(0, radius_nm=-1.0))
    params = grain(0)
    del params["energy_kev"]
    with pytest.raises(ValueError, match="energy_kev"):
        simulate(params)
    with pytest.raises(ValueError, match="alpha_f_deg"):
        simulate_angles(grain(0), alpha_f_deg=np.zeros((3, 3)), two_theta_f_deg=np.zeros((3, 4)))
