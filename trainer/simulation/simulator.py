"""GISAXS patterns of finite sphere superlattices on a substrate (DWBA), batched in torch.

A grain is a box of ``N x N x Nz`` orthorhombic cells (:mod:`.lattices`) sitting
on a Si substrate. With q = k_f - k_i and the phase exp(-i q . r) of a sphere at
r, its amplitude is

    A = D_N(q'_x a) D_N(q'_y b) sum_sites exp(-i (q'_x x_j + q'_y y_j))
        sum_paths w_t F(q_t) DW(q_t) exp(-i qz_t z_j) D_Nz(qz_t c)

with the four DWBA paths t (:func:`.dwba.dwba_paths`), F the sphere form
factor, DW the Debye-Waller factor, D the 1-D Dirichlet sums over the cells (so
the cost does not depend on the grain size), q'_x, q'_y the in-plane transfer in
the grain's frame and (x_j, y_j, z_j) the basis sites. The paths only take
qz = +-(kz_f + kz_i) and +-(kz_f - kz_i), so two form factors and two vertical
sums serve all four (the negative ones are complex conjugates). Grains of
different in-plane orientation add incoherently (``in_plane="grains"``), or the
film holds grains at every in-plane angle and each in-plane reciprocal lattice
point becomes a ring (``in_plane="powder"``, the default; :func:`_powder_intensity`); the diffuse scattering of the
displacement and size disorder is added exactly (uncorrelated disorder), and the
in-plane Dirichlet intensities are averaged over the instrumental resolution.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from xicam_gisaxs_cnn.canonical import pixel_size_nm, q_mesh
from xicam_gisaxs_cnn.classes import CLASSES
from xicam_gisaxs_cnn.physics import HC_KEV_NM, silicon_refractive_index

from .config import SimulationConfig
from .dwba import (
    Path,
    broadened_dirichlet_intensity,
    dirichlet_amplitude,
    dirichlet_intensity,
    dwba_paths,
    sphere_form_factor,
)
from .fresnel import reflection_coefficient
from .geometry import exit_angles_from_q
from .lattices import IDEAL_HCP_C_OVER_A, OrthorhombicCell, cell_edges_nm, cell_for_class

SIMULATOR_VERSION: str = "1.1.1"
"""Version of the simulator physics; saved with every dataset."""

REQUIRED_PARAMETERS: tuple[str, ...] = (
    "label", "nn_distance_nm", "radius_nm", "repetitions_lateral", "repetitions_vertical",
    "in_plane_angle_deg", "alpha_i_deg", "energy_kev",
)
"""Parameters :func:`simulate_angles` needs; the disorder parameters default to none."""

_OPTIONAL_DEFAULTS: dict[str, float] = {
    "polydispersity": 0.0,
    "compression": 0.0,
    "debye_waller_nm": 0.0,
    "resolution_sigma_nm": 0.0,
    "hcp_c_over_a": IDEAL_HCP_C_OVER_A,
}


def _column(params: dict, name: str, count: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``params[name]`` (or its default) as a finite (count,) tensor."""
    value = params[name] if name in params else _OPTIONAL_DEFAULTS[name]
    tensor = torch.as_tensor(value, dtype=dtype, device=device)
    if tensor.ndim == 0:
        tensor = tensor.expand(count)
    if tensor.shape != (count,):
        raise ValueError(f"params[{name!r}] must have shape ({count},), got {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"params[{name!r}] must be finite, got {tensor.tolist()}")
    return tensor


def _check_params(params: dict, count: int) -> None:
    """Raise ValueError naming the first missing or out-of-range parameter."""
    missing = [name for name in REQUIRED_PARAMETERS if name not in params]
    if missing:
        raise ValueError(f"params lacks {missing}; required: {REQUIRED_PARAMETERS}")
    positive = ("nn_distance_nm", "radius_nm", "repetitions_lateral", "repetitions_vertical", "alpha_i_deg", "energy_kev")
    for name in positive:
        values = torch.as_tensor(params[name], dtype=torch.float64)
        if bool((values <= 0).any()):
            raise ValueError(f"params[{name!r}] must be > 0, got {values.tolist()}")
    for name in ("repetitions_lateral", "repetitions_vertical"):
        values = torch.as_tensor(params[name], dtype=torch.float64)
        if bool((values != values.round()).any()):
            raise ValueError(f"params[{name!r}] must hold whole numbers, got {values.tolist()}")
    for name in ("polydispersity", "debye_waller_nm", "resolution_sigma_nm"):
        if name in params and bool((torch.as_tensor(params[name], dtype=torch.float64) < 0).any()):
            raise ValueError(f"params[{name!r}] must be >= 0, got {torch.as_tensor(params[name]).tolist()}")


def _radius_nodes(radius: torch.Tensor, polydispersity: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Hermite radii (N, K) and weights (K,) of a Gaussian radius distribution."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    nodes = torch.as_tensor(nodes, dtype=radius.dtype, device=radius.device)
    weights = torch.as_tensor(weights / weights.sum(), dtype=radius.dtype, device=radius.device)
    radii = radius[:, None] * (1.0 + polydispersity[:, None] * nodes[None, :])
    return radii.clamp_min(0.05 * radius[:, None]), weights


def _unit_phase(angle: torch.Tensor) -> torch.Tensor:
    """exp(i angle) for a real angle (cheaper than a complex exp)."""
    return torch.complex(torch.cos(angle), torch.sin(angle))


class _Powers:
    """Integer powers of one complex tensor, computed once each by repeated products."""

    def __init__(self, base: torch.Tensor) -> None:
        self._powers = [torch.ones_like(base), base]

    def __getitem__(self, exponent: int) -> torch.Tensor:
        while len(self._powers) <= exponent:
            self._powers.append(self._powers[-1] * self._powers[1])
        return self._powers[exponent]


def _oriented(value: torch.Tensor, sign: int) -> torch.Tensor:
    """A vertical factor at +qz (sign 1) or -qz (sign -1, its complex conjugate)."""
    return value if sign > 0 else value.conj()


def _vertical_factors(
    qz: torch.Tensor, *, levels: list[int], bottom: torch.Tensor, c: torch.Tensor, n_vertical: torch.Tensor,
    dtype: torch.dtype,
) -> dict[int, torch.Tensor]:
    """exp(-i qz z) summed over the Nz cells, for sites at heights bottom + level c / 6.

    ``qz`` (float64) sets the phases; the result is complex of ``dtype``.
    """
    base = _unit_phase((-qz * bottom).to(dtype)) * dirichlet_amplitude(-qz * c, n_vertical, dtype=dtype)
    step = _Powers(_unit_phase((-qz * (c / 6.0)).to(dtype)))
    return {level: base * step[level] for level in levels}


def _layer_amplitudes(
    cell: OrthorhombicCell, *, transfers: dict[str, torch.Tensor], paths: tuple[Path, ...],
    coherent_form: dict[str, torch.Tensor], bottom: torch.Tensor, c: torch.Tensor, n_vertical: torch.Tensor,
    dtype: torch.dtype,
) -> dict[int, torch.Tensor]:
    """Amplitude (B, P) of one column of sites at each basis height (in sixths of c), summed over the DWBA paths
    and the Nz cells, with the mean form factor and Debye-Waller factor; ``c`` is (B, 1), nm."""
    levels = sorted({site[2] for site in cell.basis_sixths})
    vertical = {
        name: _vertical_factors(qz, levels=levels, bottom=bottom, c=c, n_vertical=n_vertical[:, None], dtype=dtype)
        for name, qz in transfers.items() if any(path.transfer == name for path in paths)
    }
    weighted = [(path, path.weight * coherent_form[path.transfer]) for path in paths]
    return {
        level: sum(amplitude * _oriented(vertical[path.transfer][level], path.sign) for path, amplitude in weighted)
        for level in levels
    }


def _powder_intensity(
    cell: OrthorhombicCell, *, qx: torch.Tensor, qy: torch.Tensor, transfers: dict[str, torch.Tensor],
    paths: tuple[Path, ...], coherent_form: dict[str, torch.Tensor], bottom: torch.Tensor,
    edges: tuple[torch.Tensor, torch.Tensor, torch.Tensor], n_lateral: torch.Tensor, n_vertical: torch.Tensor,
    sigma_q: torch.Tensor, dtype: torch.dtype,
) -> torch.Tensor:
    """Bragg intensity (B, P) of a film of grains at every in-plane angle (a 2-D powder, fibre texture).

    Each in-plane reciprocal lattice point G_hk of an N x N-cell grain is a peak of
    integral (2 pi N)^2 / (a b) over the in-plane q, taken as a Gaussian of variance
    sigma_q^2 + 2 pi / (N^2 a b) (the second term matches the Dirichlet peak's height
    N^4). Averaged over the in-plane angle it becomes a ring about q_par = 0,

        ring(q_par) = W / (2 pi s^2) exp(-(q_par - |G|)^2 / (2 s^2)) i0e(q_par |G| / s^2),

    and the intensity is sum_hk |sum_sites exp(-2 pi i (h x_j + k y_j)) L_j|^2 ring_hk,
    with L_j the site column's amplitude (:func:`_layer_amplitudes`). The rings are
    tabulated over q_par and interpolated, so the cost grows with the number of
    rings, not of pixels x rings. ``sigma_q`` (B,) is the in-plane resolution, nm^-1.

    Each pattern has its own table, from 0 to its own largest q_par, of the rings
    that reach its pixels; patterns that need about as many rings share one (B, H, T)
    block (:func:`_ring_groups`). The count of rings follows each pattern's q_par x
    lattice, so patterns of one lattice-to-window ratio at different window scales
    cost no more in one call than at one scale.
    """
    a, b, c = edges
    layers = _layer_amplitudes(cell, transfers=transfers, paths=paths, coherent_form=coherent_form, bottom=bottom,
                               c=c[:, None], n_vertical=n_vertical, dtype=dtype)
    levels = sorted(layers)
    q_par = torch.sqrt(qx**2 + qy**2)
    q_max = q_par.amax(dim=1).clamp_min(1e-12)  # (B,)
    variance = sigma_q**2 + 2.0 * math.pi / (n_lateral**2 * a * b)
    reach = q_max + 6.0 * variance.sqrt()
    h_max, k_max = (math.ceil(float((reach * edge).max()) / (2.0 * math.pi)) for edge in (a, b))
    h, k = torch.meshgrid(torch.arange(-h_max, h_max + 1), torch.arange(-k_max, k_max + 1), indexing="ij")
    h, k = h.flatten().to(qx.device, torch.float64), k.flatten().to(qx.device, torch.float64)
    g = 2.0 * math.pi * torch.sqrt((h[None, :] / a[:, None]) ** 2 + (k[None, :] / b[:, None]) ** 2)  # (B, H)
    needed = g - 6.0 * variance.sqrt()[:, None] < q_max[:, None]  # (B, H): the ring reaches the pattern's pixels
    seen = needed.any(dim=0)
    h, k, g, needed = h[seen], k[seen], g[:, seen], needed[:, seen]
    # basis sum per height: c_z(h, k) = sum over the sites at height z of exp(-2 pi i (h x + k y))
    coefficient = {
        level: sum(torch.exp(-2j * math.pi * (h * x + k * y) / 6.0) for x, y, z in cell.basis_sixths if z == level)
        for level in levels
    }
    table_points = 1024
    grid = torch.linspace(0.0, 1.0, table_points, dtype=torch.float64, device=qx.device)[None, :] * q_max[:, None]  # (B, T)
    s2 = variance[:, None, None]
    weight = (2.0 * math.pi * n_lateral) ** 2 / (a * b)
    blocks = []
    for rows in _ring_groups(needed.sum(dim=1)):
        used = needed[rows].any(dim=0)
        q, centre, width = grid[rows][:, None, :], g[rows][:, used][:, :, None], s2[rows]
        ring = ((weight[rows, None, None] / (2.0 * math.pi * width)) * torch.exp(-((q - centre) ** 2) / (2.0 * width))
                * torch.special.i0e(q * centre / width)).to(dtype)  # (b, H used, T)
        blocks.append((rows, used, ring))
    position = q_par * ((table_points - 1) / q_max[:, None])
    lower = position.floor().clamp(max=table_points - 2).long()
    fraction = (position - lower).to(dtype)

    def tabulated(products: torch.Tensor) -> torch.Tensor:
        complex_valued = bool(products.imag.any())
        table_dtype = torch.promote_types(dtype, torch.complex64) if complex_valued else dtype
        table = torch.empty(q_par.shape[0], table_points, dtype=table_dtype, device=qx.device)
        for rows, used, ring in blocks:
            parts = [torch.einsum("h,bht->bt", part[used].to(dtype), ring) for part in (products.real, products.imag)]
            table[rows] = torch.complex(*parts) if complex_valued else parts[0]
        return torch.gather(table, 1, lower) * (1.0 - fraction) + torch.gather(table, 1, lower + 1) * fraction

    intensity = torch.zeros(qx.shape, dtype=dtype, device=qx.device)
    for index, first in enumerate(levels):
        intensity += layers[first].abs().square() * tabulated(coefficient[first].abs().square() + 0j)
        for second in levels[index + 1:]:
            cross = tabulated(coefficient[first] * coefficient[second].conj())
            intensity += 2.0 * (layers[first] * layers[second].conj() * cross).real
    return intensity.clamp_min(0.0)


def _ring_groups(ring_counts: torch.Tensor, *, spread: float = 2.0) -> list[torch.Tensor]:
    """Row indices of patterns grouped by how many powder rings they need, each group within a factor ``spread``.

    A group's table holds every ring any of its patterns needs, so mixing a pattern of few
    rings with one of many wastes the difference; grouping bounds that waste at ``spread``.
    """
    order = torch.argsort(ring_counts.cpu(), stable=True)
    counts = ring_counts.cpu()[order].tolist()
    groups, start = [], 0
    for index in range(1, len(counts) + 1):
        if index == len(counts) or counts[index] > spread * max(counts[start], 1):
            groups.append(order[start:index].to(ring_counts.device))
            start = index
    return groups


def _coherent_intensity(
    cell: OrthorhombicCell, *, qx: torch.Tensor, qy: torch.Tensor, transfers: dict[str, torch.Tensor],
    paths: tuple[Path, ...], coherent_form: dict[str, torch.Tensor], bottom: torch.Tensor,
    edges: tuple[torch.Tensor, torch.Tensor, torch.Tensor], n_lateral: torch.Tensor, n_vertical: torch.Tensor,
    angles: torch.Tensor, sigma_q: torch.Tensor, dtype: torch.dtype,
) -> torch.Tensor:
    """Orientation-averaged Bragg intensity (B, P) of grains of one class.

    ``qx``, ``qy`` (B, P) and ``transfers`` ("s"/"d" -> kz_f +- kz_i, (B, P)) are
    float64, so that the phases of large grains stay accurate; ``coherent_form``
    maps "s"/"d" to the mean form factor times the Debye-Waller factor;
    ``bottom`` (B, 1) is the height of the lowest sphere centres, nm; ``angles``
    (B, G) the grains' in-plane angles, radians. The result has ``dtype``.
    """
    a, b, c = (edge[:, None] for edge in edges)
    layers = _layer_amplitudes(cell, transfers=transfers, paths=paths, coherent_form=coherent_form, bottom=bottom,
                               c=c, n_vertical=n_vertical, dtype=dtype)
    cos_g, sin_g = torch.cos(angles)[:, :, None], torch.sin(angles)[:, :, None]
    phase_x = (qx[:, None, :] * cos_g + qy[:, None, :] * sin_g) * a[:, :, None]
    phase_y = (qy[:, None, :] * cos_g - qx[:, None, :] * sin_g) * b[:, :, None]
    step_x = _Powers(_unit_phase((phase_x / -6.0).to(dtype)))
    step_y = _Powers(_unit_phase((phase_y / -6.0).to(dtype)))
    amplitude = sum(step_x[x] * step_y[y] * layers[z][:, None, :] for x, y, z in cell.basis_sixths)
    if bool((sigma_q > 0).any()):
        kernel = broadened_dirichlet_intensity(phase_x, n_lateral, sigma_q * a[:, 0], dtype=dtype)
        kernel = kernel * broadened_dirichlet_intensity(phase_y, n_lateral, sigma_q * b[:, 0], dtype=dtype)
    else:
        n = n_lateral[:, None, None]
        kernel = dirichlet_intensity(phase_x, n, dtype=dtype) * dirichlet_intensity(phase_y, n, dtype=dtype)
    return (torch.view_as_real(amplitude).square().sum(-1) * kernel).mean(dim=1)


def _diffuse_intensity(
    cell: OrthorhombicCell, *, kz_i: torch.Tensor, kz_f: torch.Tensor, paths: tuple[Path, ...],
    form: dict[str, torch.Tensor], coherent_form: dict[str, torch.Tensor], radius_weights: torch.Tensor,
    sigma: torch.Tensor, bottom: torch.Tensor, c: torch.Tensor, n_lateral: torch.Tensor, n_vertical: torch.Tensor,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Diffuse intensity (B, P) of uncorrelated displacements (rms ``sigma``) and radii.

    sum over sites j and paths t, u of w_t w_u* exp(-i (qz_t - qz_u) z_j)
    [<F_t F_u> exp(-(qz_t - qz_u)^2 sigma^2 / 2) - <F_t><F_u> DW_t DW_u]:
    the lateral site sums give N^2, the vertical ones a Dirichlet sum. Pairs of
    paths with the same transfer qz_t - qz_u (0, 2 kz_i, 2 kz_f, 2 (kz_f +- kz_i))
    and the same form factors are summed first. ``kz_i``, ``kz_f`` are float64;
    the result has ``dtype``.
    """
    levels = [site[2] for site in cell.basis_sixths]
    c, n_vertical, sigma = c[:, None], n_vertical[:, None], sigma[:, None]

    def coefficients(path: Path) -> tuple[int, int]:  # qz = f kz_f + i kz_i
        return path.sign, path.sign if path.transfer == "s" else -path.sign

    groups: dict[tuple[tuple[int, int], tuple[str, str]], torch.Tensor] = {}
    for index, first in enumerate(paths):
        for second in paths[index:]:
            (f1, i1), (f2, i2) = coefficients(first), coefficients(second)
            key = ((f1 - f2, i1 - i2), tuple(sorted((first.transfer, second.transfer))))
            weight = first.weight * second.weight.conj() * (1.0 if second is first else 2.0)
            groups[key] = groups[key] + weight if key in groups else weight
    products: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
    diffuse = torch.zeros(kz_f.shape, dtype=dtype, device=kz_f.device)
    for ((f, i), kinds), weight in groups.items():
        if kinds not in products:  # <F_t F_u> and <F_t> DW_t <F_u> DW_u
            products[kinds] = (
                torch.matmul(radius_weights, form[kinds[0]] * form[kinds[1]]),
                coherent_form[kinds[0]] * coherent_form[kinds[1]],
            )
        correlated, uncorrelated = products[kinds]
        if (f, i) == (0, 0):
            diffuse += (len(levels) * n_vertical).to(dtype) * weight.real * (correlated - uncorrelated)
            continue
        transfer = f * kz_f + i * kz_i
        step = _Powers(_unit_phase((-transfer * (c / 6.0)).to(dtype)))
        depth = sum(step[level] for level in levels) * _unit_phase((-transfer * bottom).to(dtype))
        depth = depth * dirichlet_amplitude(-transfer * c, n_vertical, dtype=dtype)
        damping = torch.exp((-0.5 * transfer**2 * sigma**2).to(dtype))
        diffuse += (weight * depth).real * (correlated * damping - uncorrelated)
    return n_lateral.to(dtype)[:, None] ** 2 * diffuse


def _chunk_intensity(
    params: dict, alpha_f: torch.Tensor, two_theta_f: torch.Tensor, config: SimulationConfig, pixel_nm: torch.Tensor,
) -> torch.Tensor:
    """Intensities (B, P) of one chunk of patterns at P pixels (angles in radians, float64).

    ``alpha_f``, ``two_theta_f``: (1, P) for pixels shared by the chunk, (B, P) per pattern.
    ``pixel_nm`` (B,): pixel width in q, nm^-1; powder rings are averaged over it.

    Phases (wavevector transfers, lattice phases) are computed in float64, the
    rest in ``config.dtype``.
    """
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    exact, device = torch.float64, alpha_f.device
    labels = torch.as_tensor(params["label"], dtype=torch.int64).cpu()
    count = labels.numel()
    order = torch.argsort(labels, stable=True)  # classes in contiguous slices
    labels = labels[order]
    column = {
        name: _column(params, name, count, exact, device)[order.to(device)]
        for name in (*REQUIRED_PARAMETERS[1:], *_OPTIONAL_DEFAULTS)
    }
    offsets = torch.as_tensor(params.get("grain_offsets_deg", torch.zeros(count, 1)), dtype=exact, device=device)
    if offsets.ndim != 2 or offsets.shape[0] != count:
        raise ValueError(f"params['grain_offsets_deg'] must have shape ({count}, grains), got {tuple(offsets.shape)}")
    angles = torch.deg2rad(column["in_plane_angle_deg"][:, None] + offsets[order.to(device)])
    if alpha_f.shape[0] > 1:  # per-pattern pixels follow the class order
        alpha_f, two_theta_f = alpha_f[order.to(device)], two_theta_f[order.to(device)]
    pixel_nm = pixel_nm[order.to(device)]

    # geometry (float64): wavevector transfer of every pixel, Fresnel coefficients, DWBA paths
    k = (2.0 * math.pi / HC_KEV_NM) * column["energy_kev"][:, None]
    alpha_i = torch.deg2rad(column["alpha_i_deg"])[:, None]
    above = alpha_f > 0
    alpha_f = alpha_f.clamp_min(0.0)
    cos_af = torch.cos(alpha_f)
    qx = k * (cos_af * torch.cos(two_theta_f) - torch.cos(alpha_i))
    qy = k * cos_af * torch.sin(two_theta_f)
    kz_i, kz_f = k * torch.sin(alpha_i), k * torch.sin(alpha_f)
    energies = column["energy_kev"]
    if bool((energies == energies[0]).all()):  # one substrate index for the whole chunk
        energies = energies[:1]
    optical = torch.tensor([silicon_refractive_index(e) for e in energies.tolist()], dtype=exact, device=device)
    delta, beta = optical[:, :1], optical[:, 1:]
    paths = dwba_paths(
        reflection_coefficient(alpha_i, delta=delta, beta=beta).to(complex_dtype),
        reflection_coefficient(alpha_f, delta=delta, beta=beta).to(complex_dtype),
        born=config.born,
    )
    transfers = {"s": kz_f + kz_i, "d": kz_f - kz_i}
    in_plane = qx**2 + qy**2

    # form factors averaged over the radius distribution, Debye-Waller factors (working dtype)
    polydisperse = bool((column["polydispersity"] > 0).any())
    radii, radius_weights = _radius_nodes(
        column["radius_nm"].to(dtype), column["polydispersity"].to(dtype),
        config.radius_quadrature if polydisperse else 1,
    )
    sigma = column["debye_waller_nm"]
    disordered = polydisperse or bool((sigma > 0).any())
    used = sorted({path.transfer for path in paths})
    q_squared = {name: (in_plane + transfers[name] ** 2).to(dtype) for name in used}
    form = {name: sphere_form_factor(q_squared[name].sqrt()[:, None, :], radii[:, :, None]) for name in used}
    mean_form = {name: torch.matmul(radius_weights, form[name]) for name in used}
    sigma_squared = (sigma**2).to(dtype)[:, None]
    debye_waller = {name: torch.exp(-0.5 * q_squared[name] * sigma_squared) for name in used}
    coherent_form = {name: mean_form[name] * debye_waller[name] for name in used}

    intensity = torch.empty(count, alpha_f.shape[1], dtype=dtype, device=device)
    bounds = torch.searchsorted(labels, torch.arange(len(CLASSES) + 1)).tolist()
    for label in range(len(CLASSES)):
        rows = slice(bounds[label], bounds[label + 1])
        if rows.start == rows.stop:
            continue
        cell = cell_for_class(CLASSES[label].name)
        edges = cell_edges_nm(
            cell, nn_distance_nm=column["nn_distance_nm"][rows], compression=column["compression"][rows],
            hcp_c_over_a=column["hcp_c_over_a"][rows],
        )
        bottom = column["radius_nm"][rows, None]
        n_lateral, n_vertical = column["repetitions_lateral"][rows], column["repetitions_vertical"][rows]
        row_paths = tuple(Path(p.transfer, p.sign, p.weight if p.weight.shape[0] == 1 else p.weight[rows]) for p in paths)
        common = dict(
            qx=qx[rows], qy=qy[rows], transfers={n: t[rows] for n, t in transfers.items()}, paths=row_paths,
            coherent_form={n: f[rows] for n, f in coherent_form.items()}, bottom=bottom, edges=edges,
            n_lateral=n_lateral, n_vertical=n_vertical, dtype=dtype,
        )
        if config.in_plane == "powder":
            sigma_q = torch.sqrt(column["resolution_sigma_nm"][rows] ** 2 + pixel_nm[rows] ** 2 / 12.0)
            part = _powder_intensity(cell, sigma_q=sigma_q, **common)
        else:
            part = _coherent_intensity(cell, angles=angles[rows], sigma_q=column["resolution_sigma_nm"][rows], **common)
        if disordered:
            part = part + _diffuse_intensity(
                cell, kz_i=kz_i[rows], kz_f=kz_f[rows], paths=row_paths, form={n: f[rows] for n, f in form.items()},
                coherent_form={n: f[rows] for n, f in coherent_form.items()}, radius_weights=radius_weights,
                sigma=sigma[rows], bottom=bottom, c=edges[2], n_lateral=n_lateral, n_vertical=n_vertical, dtype=dtype,
            )
        spheres = n_lateral**2 * n_vertical * len(cell.basis)
        intensity[rows] = part / spheres.to(dtype)[:, None]
    intensity = torch.where(above, intensity, torch.zeros_like(intensity)).clamp_min(0.0)
    return intensity[torch.argsort(order).to(device)]


def simulate_angles(
    params: dict[str, torch.Tensor],
    *,
    alpha_f_deg: np.ndarray | torch.Tensor,
    two_theta_f_deg: np.ndarray | torch.Tensor,
    config: SimulationConfig | None = None,
    device: str | torch.device = "cpu",
    pixel_nm: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """GISAXS intensities of a batch of patterns at any detector pixels.

    Parameters
    ----------
    params : dict of str -> Tensor
        Per-pattern parameters as returned by :func:`sample_parameters`, each (N,);
        :data:`REQUIRED_PARAMETERS` must be present, the disorder parameters
        (``polydispersity``, ``compression``, ``debye_waller_nm``,
        ``resolution_sigma_nm``, ``grain_offsets_deg`` (N, G), ``hcp_c_over_a``)
        default to a perfect single grain without broadening.
    alpha_f_deg, two_theta_f_deg : array, shape (H, W) or (N, H, W)
        Exit angle above the surface and in-plane exit angle of every pixel,
        degrees (negative ``alpha_f_deg``: below the horizon, intensity 0); one
        pixel grid for the whole batch, or one per pattern.
    config : SimulationConfig, optional
        Settings (DWBA or Born, dtype, chunk size, radius quadrature).
    device : str or torch.device
        ``"cpu"`` or ``"cuda"``.
    pixel_nm : float or Tensor (N,)
        Width of a pixel in q, nm^-1, for all patterns or per pattern: with
        ``config.in_plane == "powder"`` the rings are averaged over it (a Gaussian
        of its variance, pixel^2 / 12); 0: sampled.

    Returns
    -------
    Tensor, shape (N, H, W)
        Non-negative intensities per sphere (arbitrary units common to all
        patterns), in ``config.dtype`` on ``device``.
    """
    config = config or SimulationConfig()
    alpha_f = torch.as_tensor(alpha_f_deg, dtype=torch.float64)
    two_theta = torch.as_tensor(two_theta_f_deg, dtype=torch.float64)
    if alpha_f.shape != two_theta.shape or alpha_f.ndim not in (2, 3):
        raise ValueError(
            "alpha_f_deg and two_theta_f_deg must be arrays of one shape, (H, W) or (N, H, W), "
            f"got {tuple(alpha_f.shape)} and {tuple(two_theta.shape)}"
        )
    if bool((alpha_f.abs() >= 90).any() | (two_theta.abs() >= 90).any()):
        raise ValueError("alpha_f_deg and two_theta_f_deg must lie within (-90, 90) degrees")
    count = int(torch.as_tensor(params["label"]).numel()) if "label" in params else 0
    _check_params(params, count)
    per_pattern = alpha_f.ndim == 3
    if per_pattern and alpha_f.shape[0] != count:
        raise ValueError(f"per-pattern exit angles must have {count} grids (one per pattern), got {alpha_f.shape[0]}")
    pixel = torch.as_tensor(pixel_nm, dtype=torch.float64).flatten().to(device)
    if pixel.numel() not in (1, count) or not bool(torch.isfinite(pixel).all()) or bool((pixel < 0).any()):
        raise ValueError(f"pixel_nm must be one finite value >= 0 or {count} of them, got {pixel.tolist()}")
    pixel = pixel.expand(count)
    grid_shape = alpha_f.shape[-2:]
    alpha_f = torch.deg2rad(alpha_f).flatten(start_dim=-2).to(device=device)
    two_theta = torch.deg2rad(two_theta).flatten(start_dim=-2).to(device=device)
    chunks = []
    for start in range(0, count, config.chunk_size):
        rows = slice(start, min(start + config.chunk_size, count))
        chunk = {
            name: (value[rows] if torch.is_tensor(value) and value.ndim >= 1 else value)
            for name, value in params.items()
        }
        angles = (alpha_f[rows], two_theta[rows]) if per_pattern else (alpha_f[None], two_theta[None])
        chunks.append(_chunk_intensity(chunk, *angles, config, pixel[rows]))
    return torch.cat(chunks).reshape(count, *grid_shape)


def canonical_exit_angles(config: SimulationConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exit angles (degrees, each (125, 125)) of the canonical pixels at the nominal geometry."""
    config = config or SimulationConfig()
    qy, qz = q_mesh()
    return exit_angles_from_q(qy, qz, energy_kev=config.nominal_energy_kev, alpha_i_deg=config.nominal_alpha_i_deg)


def _subpixel_exit_angles(config: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Exit angles (degrees, each (125 s, 125 s)) of s x s sub-pixels tiling every canonical pixel.

    Sub-pixel (s i + m, s j + n) lies at offsets ((m + 1/2) / s - 1/2, (n + 1/2) / s - 1/2)
    pixels from the centre of canonical pixel (i, j).
    """
    s = config.pixel_supersampling
    qy, qz = q_mesh()
    dqy, dqz = pixel_size_nm()
    offsets = (np.arange(s) + 0.5) / s - 0.5
    qz_fine = (qz[:, None, :, None] - offsets[None, :, None, None] * dqz).repeat(s, axis=3)
    qy_fine = (qy[:, None, :, None] + offsets[None, None, None, :] * dqy).repeat(s, axis=1)
    shape = (qy.shape[0] * s, qy.shape[1] * s)
    return exit_angles_from_q(
        qy_fine.reshape(shape), qz_fine.reshape(shape),
        energy_kev=config.nominal_energy_kev, alpha_i_deg=config.nominal_alpha_i_deg,
    )


def simulate(
    params: dict[str, torch.Tensor],
    config: SimulationConfig | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """GISAXS intensities of a batch of patterns on the canonical 125 x 125 (qy, qz) grid.

    The canonical pixels (or their s x s sub-pixels, ``config.pixel_supersampling``)
    are converted to exit angles with the nominal energy and incidence angle of
    ``config``, then :func:`simulate_angles` evaluates them with each pattern's own
    (jittered) incidence angle and energy; sub-pixels are averaged per pixel.

    Returns
    -------
    Tensor, shape (N, 125, 125)
        Non-negative intensities, row 0 at qz = 2.0 nm^-1; pixels below the
        horizon are 0.
    """
    config = config or SimulationConfig()
    s = config.pixel_supersampling
    if s == 1:
        alpha_f, two_theta = canonical_exit_angles(config)
        return simulate_angles(params, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta, config=config, device=device,
                               pixel_nm=pixel_size_nm()[0])
    alpha_f, two_theta = _subpixel_exit_angles(config)
    fine = simulate_angles(params, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta, config=config, device=device,
                           pixel_nm=pixel_size_nm()[0] / s)
    count, rows, columns = fine.shape
    return fine.reshape(count, rows // s, s, columns // s, s).mean(dim=(2, 4))
