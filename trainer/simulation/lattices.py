"""The seven oriented superlattices as orthorhombic cells with a multi-sphere basis.

Every class of :mod:`xicam_gisaxs_cnn.classes` is written as a box-shaped cell
with edges along x, y (in the substrate plane) and z (the substrate normal) and a
basis of 1 to 6 spheres, so that a block of ``Nx x Ny x Nz`` cells is itself a
box and its lattice sum is a product of three 1-D Dirichlet kernels.

Lengths are in units of the nearest-neighbour distance ``d`` (multiply by
``nn_distance_nm``); basis positions are fractions of the cell edges.

======== ================================ ===================== =====
class    cell edges (a, b, c) / d          basis (fractional)    wedge
======== ================================ ===================== =====
SC100    1, 1, 1                           1 site                90
SC110    sqrt2, 1, sqrt2                   2 sites               180
BCC100   a0, a0, a0 (a0 = 2/sqrt3)         2 sites               90
BCC110   a0 sqrt2, a0, a0 sqrt2            4 sites               180
FCC100   sqrt2, sqrt2, sqrt2               4 sites               90
FCC111   1, sqrt3, 3 sqrt(2/3) (ABC)       6 sites               120
HCP0001  1, sqrt3, c/a (AB)                4 sites               60
======== ================================ ===================== =====

The wedge (degrees) is the angle of the in-plane rotation that maps the oriented
lattice onto itself (4-, 2-, 3- or 6-fold axis along z); in-plane rotations are
sampled over it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from xicam_gisaxs_cnn.classes import CLASS_NAMES, CLASSES

IDEAL_HCP_C_OVER_A: float = math.sqrt(8.0 / 3.0)
"""c/a of ideal hexagonal close packing (touching spheres), 1.633."""

MAX_BASIS_SITES: int = 6
"""Largest basis (FCC111: three close-packed layers of two sites each)."""


@dataclass(frozen=True)
class OrthorhombicCell:
    """An oriented lattice written as a box cell with a basis.

    Attributes
    ----------
    name : str
        Class name, e.g. ``"FCC111"``.
    edges : tuple of float
        Cell edges ``(a, b, c)`` along x, y, z in units of the nearest-neighbour
        distance; ``c`` of HCP0001 is a placeholder replaced by c/a at use.
    basis : tuple of tuple of float
        Site positions as fractions of ``(a, b, c)``.
    wedge_deg : float
        In-plane rotation (degrees) that maps the lattice onto itself.
    """

    name: str
    edges: tuple[float, float, float]
    basis: tuple[tuple[float, float, float], ...]
    wedge_deg: float


_A_BCC = 2.0 / math.sqrt(3.0)
_LAYER_FCC = math.sqrt(2.0 / 3.0)
_R2, _R3 = math.sqrt(2.0), math.sqrt(3.0)

_CELLS: dict[str, OrthorhombicCell] = {
    cell.name: cell
    for cell in (
        OrthorhombicCell("SC100", (1.0, 1.0, 1.0), ((0, 0, 0),), 90.0),
        # x along [1-10], y along [001], z along [110]
        OrthorhombicCell("SC110", (_R2, 1.0, _R2), ((0, 0, 0), (0.5, 0, 0.5)), 180.0),
        OrthorhombicCell("BCC100", (_A_BCC,) * 3, ((0, 0, 0), (0.5, 0.5, 0.5)), 90.0),
        OrthorhombicCell(
            "BCC110",
            (_A_BCC * _R2, _A_BCC, _A_BCC * _R2),
            ((0, 0, 0), (0.5, 0, 0.5), (0, 0.5, 0.5), (0.5, 0.5, 0)),
            180.0,
        ),
        OrthorhombicCell(
            "FCC100", (_R2,) * 3, ((0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)), 90.0
        ),
        # close-packed layers A, B, C: a rectangular (1 x sqrt3) cell holds two sites per layer
        OrthorhombicCell(
            "FCC111",
            (1.0, _R3, 3.0 * _LAYER_FCC),
            (
                (0, 0, 0), (0.5, 0.5, 0),
                (0.5, 1 / 6, 1 / 3), (0, 2 / 3, 1 / 3),
                (0, 1 / 3, 2 / 3), (0.5, 5 / 6, 2 / 3),
            ),
            120.0,
        ),
        OrthorhombicCell(
            "HCP0001",
            (1.0, _R3, IDEAL_HCP_C_OVER_A),
            ((0, 0, 0), (0.5, 0.5, 0), (0.5, 1 / 6, 0.5), (0, 2 / 3, 0.5)),
            60.0,
        ),
    )
}


def cell_for_class(name: str) -> OrthorhombicCell:
    """The orthorhombic cell of a class given its name (see :data:`CLASS_NAMES`)."""
    if name not in _CELLS:
        raise ValueError(f"name must be one of {', '.join(CLASS_NAMES)}, got {name!r}")
    return _CELLS[name]


def wedge_deg(labels: torch.Tensor) -> torch.Tensor:
    """In-plane symmetry wedge (degrees) of each class index, shape of ``labels``."""
    table = torch.tensor([_CELLS[c.name].wedge_deg for c in CLASSES], dtype=torch.float64)
    return table.to(labels.device)[labels]


def cell_geometry(
    labels: torch.Tensor,
    *,
    nn_distance_nm: torch.Tensor,
    compression: torch.Tensor,
    hcp_c_over_a: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cell edges and basis sites of a batch of lattices, in nm.

    Parameters
    ----------
    labels : LongTensor, shape (N,)
        Class indices in :data:`xicam_gisaxs_cnn.classes.CLASSES` order.
    nn_distance_nm : Tensor, shape (N,)
        Nearest-neighbour distance, nm.
    compression : Tensor, shape (N,)
        Relative vertical compression (0.1 shortens every z distance by 10 %).
    hcp_c_over_a : Tensor, shape (N,)
        c/a of the HCP0001 lattices (ignored for the other classes).

    Returns
    -------
    edges_nm : Tensor, shape (N, 3)
        Cell edges ``(a, b, c)`` along x, y, z, nm.
    sites : Tensor, shape (N, 6, 3)
        Basis sites as fractions of the edges, padded with zeros.
    occupancy : Tensor, shape (N, 6)
        1 for a real site, 0 for padding.
    """
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {tuple(labels.shape)}")
    if bool(((labels < 0) | (labels >= len(CLASSES))).any()):
        raise ValueError(f"labels must lie in 0..{len(CLASSES) - 1}, got {labels.tolist()}")
    dtype, device = nn_distance_nm.dtype, nn_distance_nm.device
    edges = torch.zeros(len(CLASSES), 3, dtype=dtype)
    sites = torch.zeros(len(CLASSES), MAX_BASIS_SITES, 3, dtype=dtype)
    occupancy = torch.zeros(len(CLASSES), MAX_BASIS_SITES, dtype=dtype)
    for index, lattice_class in enumerate(CLASSES):
        cell = _CELLS[lattice_class.name]
        edges[index] = torch.tensor(cell.edges, dtype=dtype)
        sites[index, : len(cell.basis)] = torch.tensor(cell.basis, dtype=dtype)
        occupancy[index, : len(cell.basis)] = 1.0
    labels = labels.to(device)
    edges_nm = edges.to(device)[labels] * nn_distance_nm[:, None]
    is_hcp = labels == CLASS_NAMES.index("HCP0001")
    c_hcp = hcp_c_over_a.to(dtype) * nn_distance_nm
    edges_nm[:, 2] = torch.where(is_hcp, c_hcp, edges_nm[:, 2]) * (1.0 - compression.to(dtype))
    return edges_nm, sites.to(device)[labels], occupancy.to(device)[labels]
