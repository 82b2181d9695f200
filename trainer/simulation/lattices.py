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

    @property
    def basis_sixths(self) -> tuple[tuple[int, int, int], ...]:
        """Basis sites in sixths of the edges (every site of the seven cells is one)."""
        return tuple(tuple(round(6 * f) for f in site) for site in self.basis)


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


def cell_edges_nm(
    cell: OrthorhombicCell,
    *,
    nn_distance_nm: torch.Tensor,
    compression: torch.Tensor,
    hcp_c_over_a: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Edges (a, b, c) of a class's cell in nm for a batch of lattices.

    Parameters
    ----------
    cell : OrthorhombicCell
        The class (all samples of the batch share it).
    nn_distance_nm : Tensor, shape (N,)
        Nearest-neighbour distance, nm.
    compression : Tensor, shape (N,)
        Relative vertical compression (0.1 shortens every z distance by 10 %).
    hcp_c_over_a : Tensor, shape (N,)
        c/a, used by HCP0001 only.

    Returns
    -------
    a, b, c : Tensor, each (N,)
        Edges along x, y (in plane) and z (normal), nm.
    """
    if bool(((compression < 0) | (compression >= 1)).any()):
        raise ValueError(f"compression must lie in [0, 1), got {compression.tolist()}")
    a = cell.edges[0] * nn_distance_nm
    b = cell.edges[1] * nn_distance_nm
    c_over_d = hcp_c_over_a if cell.name == "HCP0001" else cell.edges[2]
    return a, b, c_over_d * nn_distance_nm * (1.0 - compression)
