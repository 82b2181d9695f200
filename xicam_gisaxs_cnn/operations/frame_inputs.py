"""The detector-frame inputs that operations share: their descriptions, units and limits, and the geometry they make."""
from __future__ import annotations

from typing import Callable

from xicam.plugins.operationplugin import describe_input, limits, opts, units, visible

from ..frames.geometry import ENERGY_RANGE_KEV, MAX_INCIDENCE_DEG, MAX_TILT_DEG, DetectorGeometry

DEFAULT_DISTANCE_MM: float = 2000.0
"""Sample-detector distance the frame operations start with, mm (the run's geometry replaces it)."""

DEFAULT_PIXEL_SIZE_MM: float = 0.172
"""Pixel pitch the frame operations start with, mm (a Pilatus pixel)."""

DEFAULT_BEAM_CENTRE_PX: tuple[float, float] = (490.0, 900.0)
"""Direct-beam column and row the frame operations start with, px."""

_DESCRIPTIONS = {
    "frame": "Detector counts (rows, columns); gaps hold 0 or negative values",
    "energy_kev": "Photon energy",
    "distance_mm": "Sample to detector distance along the direct beam",
    "pixel_size_mm": "Pixel pitch (square pixels)",
    "beam_centre_x_px": "Column of the direct beam on the detector",
    "beam_centre_y_px": "Row of the direct beam on the detector (rows counted downwards)",
    "incidence_angle_deg": "Grazing incidence angle alpha_i",
    "tilt_deg": "Detector rotation about its horizontal axis (0 = normal to the beam)",
    "roll_deg": "Detector rotation about the direct beam",
    "fold": "Average each canonical cell with its mirror cell about qy = 0 (powder films are even in qy)",
}
_UNITS = {"energy_kev": "keV", "distance_mm": "mm", "pixel_size_mm": "mm", "beam_centre_x_px": "px",
          "beam_centre_y_px": "px", "incidence_angle_deg": "deg", "tilt_deg": "deg", "roll_deg": "deg"}
_LIMITS = {"energy_kev": list(ENERGY_RANGE_KEV), "distance_mm": [1.0, 20000.0], "pixel_size_mm": [0.001, 10.0],
           "incidence_angle_deg": [0.001, MAX_INCIDENCE_DEG], "tilt_deg": [-MAX_TILT_DEG, MAX_TILT_DEG],
           "roll_deg": [-MAX_TILT_DEG, MAX_TILT_DEG]}
_STEPS = {"incidence_angle_deg": 0.01, "pixel_size_mm": 0.001}


def detector_frame_inputs(func: Callable) -> Callable:
    """Describe ``func``'s inputs ``frame`` (hidden), the geometry (keV, mm, px, degrees) and ``fold`` for Xi-cam.

    Apply it under ``@operation``, beside the operation's own ``describe_input`` decorators.
    """
    for name, description in _DESCRIPTIONS.items():
        func = describe_input(name, description)(func)
    for name, unit in _UNITS.items():
        func = units(name, unit)(func)
    for name, limit in _LIMITS.items():
        func = limits(name, limit)(func)
    for name, step in _STEPS.items():
        func = opts(name, step=step)(func)
    return visible("frame", False)(func)


def frame_geometry(energy_kev: float, distance_mm: float, pixel_size_mm: float, beam_centre_x_px: float,
                   beam_centre_y_px: float, incidence_angle_deg: float, tilt_deg: float,
                   roll_deg: float) -> DetectorGeometry:
    """The detector geometry the inputs describe (square pixels); a ValueError names an implausible value."""
    return DetectorGeometry(
        energy_kev=energy_kev,
        distance_mm=distance_mm,
        pixel_size_mm=(pixel_size_mm, pixel_size_mm),
        beam_centre_px=(beam_centre_x_px, beam_centre_y_px),
        incidence_angle_deg=incidence_angle_deg,
        tilt_deg=tilt_deg,
        roll_deg=roll_deg,
    )


def frame_inputs_of(geometry: DetectorGeometry) -> dict[str, float]:
    """The geometry inputs of the frame operations for ``geometry``: :func:`frame_geometry` read backwards.

    Raises
    ------
    ValueError
        If the pixels are not square (the operation takes one pixel size).
    """
    pixel_x, pixel_y = geometry.pixel_size_mm
    if pixel_x != pixel_y:
        raise ValueError(f"pixel_size_mm must be square for the Xi-cam workflow, got {geometry.pixel_size_mm}")
    return {
        "energy_kev": geometry.energy_kev,
        "distance_mm": geometry.distance_mm,
        "pixel_size_mm": pixel_x,
        "beam_centre_x_px": geometry.beam_centre_px[0],
        "beam_centre_y_px": geometry.beam_centre_px[1],
        "incidence_angle_deg": geometry.incidence_angle_deg,
        "tilt_deg": geometry.tilt_deg,
        "roll_deg": geometry.roll_deg,
    }
