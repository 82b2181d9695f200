"""The GISAXS detector geometry of a frame, validated once so every later step can trust it.

Conventions: pixel ``(x, y)`` is column ``x`` and row ``y`` of the frame array
(``frame[y, x]``), pixel centres at integer coordinates, rows counted downwards.
The beam centre is where the direct (unreflected) beam meets the detector.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from ..physics import HC_KEV_NM

ENERGY_RANGE_KEV: tuple[float, float] = (5.0, 30.0)
"""Photon energies accepted, keV (hard X-ray GISAXS beamlines)."""

MAX_INCIDENCE_DEG: float = 5.0
"""Largest incidence angle accepted, degrees (grazing incidence is well below 1 degree)."""

MAX_TILT_DEG: float = 45.0
"""Largest detector tilt or roll accepted, degrees."""

GEOMETRY_FIELDS: tuple[str, ...] = (
    "energy_kev", "distance_mm", "pixel_size_mm", "beam_centre_px", "incidence_angle_deg", "tilt_deg", "roll_deg",
)
"""Names a geometry mapping may hold (``wavelength_nm`` may stand in for ``energy_kev``)."""


@dataclasses.dataclass(frozen=True)
class DetectorGeometry:
    """Where the detector sits and what beam hits the sample.

    Parameters
    ----------
    energy_kev : float
        Photon energy, keV, within :data:`ENERGY_RANGE_KEV`.
    distance_mm : float
        Sample to beam-centre distance along the direct beam, mm (> 0).
    pixel_size_mm : tuple of float
        Pixel pitch ``(x, y)``, mm (> 0).
    beam_centre_px : tuple of float
        Direct-beam position ``(x, y)`` on the detector, px (fractional allowed).
    incidence_angle_deg : float
        Grazing incidence angle alpha_i, degrees, in (0, :data:`MAX_INCIDENCE_DEG`].
    tilt_deg : float
        Rotation of the detector plane about its horizontal axis, degrees
        (positive: top edge towards the sample). 0 for a detector normal to the beam.
    roll_deg : float
        Rotation of the detector about the direct beam, degrees (positive: counter-clockwise
        as seen from the sample).
    """

    energy_kev: float
    distance_mm: float
    pixel_size_mm: tuple[float, float]
    beam_centre_px: tuple[float, float]
    incidence_angle_deg: float
    tilt_deg: float = 0.0
    roll_deg: float = 0.0

    def __post_init__(self) -> None:
        energy = _finite(self.energy_kev, "energy_kev")
        if not ENERGY_RANGE_KEV[0] <= energy <= ENERGY_RANGE_KEV[1]:
            raise ValueError(
                f"energy_kev must be within {ENERGY_RANGE_KEV[0]}-{ENERGY_RANGE_KEV[1]} keV, got {self.energy_kev}"
            )
        distance = _finite(self.distance_mm, "distance_mm")
        if distance <= 0:
            raise ValueError(f"distance_mm must be > 0, got {self.distance_mm}")
        pixel = _pair(self.pixel_size_mm, "pixel_size_mm")
        if min(pixel) <= 0:
            raise ValueError(f"pixel_size_mm must be > 0 in x and y, got {self.pixel_size_mm}")
        centre = _pair(self.beam_centre_px, "beam_centre_px")
        incidence = _finite(self.incidence_angle_deg, "incidence_angle_deg")
        if not 0 < incidence <= MAX_INCIDENCE_DEG:
            raise ValueError(f"incidence_angle_deg must be in (0, {MAX_INCIDENCE_DEG}], got {self.incidence_angle_deg}")
        for name in ("tilt_deg", "roll_deg"):
            angle = _finite(getattr(self, name), name)
            if abs(angle) > MAX_TILT_DEG:
                raise ValueError(f"{name} must be within +-{MAX_TILT_DEG} degrees, got {angle}")
            object.__setattr__(self, name, angle)
        object.__setattr__(self, "energy_kev", energy)
        object.__setattr__(self, "distance_mm", distance)
        object.__setattr__(self, "pixel_size_mm", pixel)
        object.__setattr__(self, "beam_centre_px", centre)
        object.__setattr__(self, "incidence_angle_deg", incidence)

    @property
    def wavelength_nm(self) -> float:
        """X-ray wavelength, nm."""
        return HC_KEV_NM / self.energy_kev

    def check_detector_shape(self, shape: tuple[int, ...]) -> None:
        """Raise a ValueError if the beam centre lies off a detector of ``shape`` (rows, columns)."""
        rows, columns = shape[-2:]
        x, y = self.beam_centre_px
        if not (-0.5 <= x <= columns - 0.5 and -0.5 <= y <= rows - 0.5):
            raise ValueError(
                f"beam_centre_px {self.beam_centre_px} lies off the detector "
                f"({columns} x {rows} px, x in [0, {columns - 1}], y in [0, {rows - 1}])"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that :func:`geometry_from_mapping` reads back."""
        values = dataclasses.asdict(self)
        values["pixel_size_mm"] = list(self.pixel_size_mm)
        values["beam_centre_px"] = list(self.beam_centre_px)
        return values


def geometry_from_mapping(values: Mapping[str, Any]) -> DetectorGeometry:
    """Build a :class:`DetectorGeometry` from a mapping (JSON sidecar, run metadata, CLI).

    ``wavelength_nm`` may replace ``energy_kev``; a scalar ``pixel_size_mm`` means
    square pixels. Unknown keys and missing required keys raise a ValueError
    naming them.
    """
    values = dict(values)
    unknown = sorted(set(values) - set(GEOMETRY_FIELDS) - {"wavelength_nm"})
    if unknown:
        raise ValueError(f"unknown geometry keys {unknown}; expected some of {list(GEOMETRY_FIELDS) + ['wavelength_nm']}")
    if "wavelength_nm" in values:
        wavelength = _finite(values.pop("wavelength_nm"), "wavelength_nm")
        if wavelength <= 0:
            raise ValueError(f"wavelength_nm must be > 0, got {wavelength}")
        energy = HC_KEV_NM / wavelength
        if "energy_kev" in values and not math.isclose(float(values["energy_kev"]), energy, rel_tol=1e-3):
            raise ValueError(f"energy_kev {values['energy_kev']} contradicts wavelength_nm {wavelength} ({energy:.4f} keV)")
        values["energy_kev"] = energy
    pixel = values.get("pixel_size_mm")
    if pixel is not None and not isinstance(pixel, (list, tuple)):
        values["pixel_size_mm"] = (pixel, pixel)
    missing = [name for name in GEOMETRY_FIELDS[:5] if values.get(name) is None]
    if missing:
        raise ValueError(f"detector geometry lacks {', '.join(missing)}")
    return DetectorGeometry(**values)


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value}")
    return number


def _pair(value: Any, name: str) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{name} must be a pair (x, y), got {value!r}")
    return (_finite(value[0], f"{name}[0]"), _finite(value[1], f"{name}[1]"))
