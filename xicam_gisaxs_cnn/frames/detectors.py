"""Pixel detectors built of modules with insensitive gaps: where the gaps are, from the frame shape alone.

Pilatus detectors tile modules of 487 x 195 px with gaps of 7 px (between module
columns) and 17 px (between module rows). Their files mark gaps with -1 or 0; a
frame whose shape is a known layout gets its gaps masked from the layout, so a
gap is never taken for a pixel that counted no photon.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class DetectorLayout:
    """A pixel detector built of modules separated by insensitive gaps.

    Parameters
    ----------
    name : str
        Human-readable name.
    shape : tuple of int
        (rows, columns), px.
    pixel_size_mm : float
        Square pixel pitch, mm.
    module_px : tuple of int
        Sensitive module size (columns, rows), px.
    gap_px : tuple of int
        Gap between modules (columns, rows), px; 0 for a monolithic detector.
    """

    name: str
    shape: tuple[int, int]
    pixel_size_mm: float = 0.172
    module_px: tuple[int, int] = (487, 195)
    gap_px: tuple[int, int] = (7, 17)

    def __post_init__(self) -> None:
        if len(self.shape) != 2 or min(self.shape) < 8:
            raise ValueError(f"shape must be (rows, columns) of at least 8 px each, got {self.shape}")
        if not self.pixel_size_mm > 0:
            raise ValueError(f"pixel_size_mm must be > 0, got {self.pixel_size_mm}")
        if min(self.module_px) < 1 or min(self.gap_px) < 0:
            raise ValueError(f"module_px must be >= 1 and gap_px >= 0, got {self.module_px} and {self.gap_px}")

    def gap_mask(self) -> np.ndarray:
        """Boolean (rows, columns), True in the gaps between modules."""
        rows, columns = self.shape
        (module_x, module_y), (gap_x, gap_y) = self.module_px, self.gap_px
        in_gap_row = np.arange(rows) % (module_y + gap_y) >= module_y
        in_gap_column = np.arange(columns) % (module_x + gap_x) >= module_x
        return in_gap_row[:, None] | in_gap_column[None, :]


PILATUS_1M = DetectorLayout("Pilatus 1M", (1043, 981))
"""5 x 2 modules of 487 x 195 px, gaps 7 px (vertical bands) and 17 px (horizontal bands)."""

PILATUS_2M = DetectorLayout("Pilatus 2M", (1679, 1475))
"""8 x 3 modules of 487 x 195 px."""

KNOWN_LAYOUTS: tuple[DetectorLayout, ...] = (PILATUS_1M, PILATUS_2M)
"""Layouts recognised from a frame's shape."""


def layout_for_shape(shape: tuple[int, int]) -> DetectorLayout | None:
    """The known layout of frames of ``shape`` (rows, columns), or None."""
    return next((layout for layout in KNOWN_LAYOUTS if layout.shape == tuple(shape)), None)
