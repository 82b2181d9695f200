"""The seven superlattice classes, in the order the models use (single source of truth)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LatticeClass:
    """One superlattice and the crystal direction along the substrate normal.

    Attributes
    ----------
    name : str
        Label used everywhere (files, manifests, documents), e.g. ``"BCC110"``.
    lattice : str
        Bravais lattice or packing: ``"SC"``, ``"BCC"``, ``"FCC"`` or ``"HCP"``.
    miller : tuple of int
        Direction along the substrate normal: three Miller indices for the cubic
        lattices, four Miller-Bravais indices for HCP.
    description : str
        Human-readable name.
    """

    name: str
    lattice: str
    miller: tuple[int, ...]
    description: str

    @property
    def miller_label(self) -> str:
        """Miller indices as written in the paper, e.g. ``"110"`` or ``"0001"``."""
        return "".join(str(index) for index in self.miller)


CLASSES: tuple[LatticeClass, ...] = (
    LatticeClass("SC100", "SC", (1, 0, 0), "simple cubic, [100] normal to the substrate"),
    LatticeClass("SC110", "SC", (1, 1, 0), "simple cubic, [110] normal to the substrate"),
    LatticeClass("BCC100", "BCC", (1, 0, 0), "body-centred cubic, [100] normal to the substrate"),
    LatticeClass("BCC110", "BCC", (1, 1, 0), "body-centred cubic, [110] normal to the substrate"),
    LatticeClass("FCC100", "FCC", (1, 0, 0), "face-centred cubic, [100] normal to the substrate"),
    LatticeClass("FCC111", "FCC", (1, 1, 1), "face-centred cubic, [111] normal (ABC stacking)"),
    LatticeClass("HCP0001", "HCP", (0, 0, 0, 1), "hexagonal close packed, [0001] normal (AB stacking)"),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
NUM_CLASSES: int = len(CLASSES)


def class_index(name: str) -> int:
    """Index of a class given its name (case-insensitive, spaces and underscores ignored).

    >>> class_index("bcc 110")
    3
    """
    key = name.replace(" ", "").replace("_", "").upper()
    for index, lattice_class in enumerate(CLASSES):
        if lattice_class.name == key:
            return index
    raise ValueError(f"unknown class {name!r}; expected one of {', '.join(CLASS_NAMES)}")
