"""Operation: resample a detector frame onto the canonical q grid, with its validity mask."""
from typing import Tuple

import numpy as np
from xicam.core.intents import ImageIntent
from xicam.plugins.operationplugin import (
    categories,
    describe_input,
    describe_output,
    display_name,
    intent,
    limits,
    operation,
    opts,
    output_names,
    units,
    visible,
)

from ..canonical import DEFAULT_ALPHA_I_DEG, DEFAULT_ENERGY_KEV
from ..frames.geometry import ENERGY_RANGE_KEV, MAX_INCIDENCE_DEG, MAX_TILT_DEG, DetectorGeometry
from ..frames.fold import FOLD_QY, fold_qy
from ..frames.resample import resample


@operation
@output_names("image", "mask")
@display_name("Detector frame to canonical q grid")
@describe_input("frame", "Detector counts (rows, columns); gaps hold 0 or negative values")
@describe_input("energy_kev", "Photon energy")
@describe_input("distance_mm", "Sample to detector distance along the direct beam")
@describe_input("pixel_size_mm", "Pixel pitch (square pixels)")
@describe_input("beam_centre_x_px", "Column of the direct beam on the detector")
@describe_input("beam_centre_y_px", "Row of the direct beam on the detector (rows counted downwards)")
@describe_input("incidence_angle_deg", "Grazing incidence angle alpha_i")
@describe_input("tilt_deg", "Detector rotation about its horizontal axis (0 = normal to the beam)")
@describe_input("roll_deg", "Detector rotation about the direct beam")
@describe_input("window_scale", "Zoom of the q window: qy in [-1, 1]/s, qz in [0, 2]/s nm^-1")
@describe_input("fold", "Average each canonical cell with its mirror cell about qy = 0 (powder films are even in qy)")
@describe_output("image", "Mean counts per canonical cell, 125 x 125, 0 where masked")
@describe_output("mask", "True where the cell holds data (not gap, beam stop or below the horizon)")
@units("energy_kev", "keV")
@units("distance_mm", "mm")
@units("pixel_size_mm", "mm")
@units("beam_centre_x_px", "px")
@units("beam_centre_y_px", "px")
@units("incidence_angle_deg", "deg")
@units("tilt_deg", "deg")
@units("roll_deg", "deg")
@limits("energy_kev", list(ENERGY_RANGE_KEV))
@limits("distance_mm", [1.0, 20000.0])
@limits("pixel_size_mm", [0.001, 10.0])
@limits("incidence_angle_deg", [0.001, MAX_INCIDENCE_DEG])
@limits("tilt_deg", [-MAX_TILT_DEG, MAX_TILT_DEG])
@limits("roll_deg", [-MAX_TILT_DEG, MAX_TILT_DEG])
@limits("window_scale", [0.05, 20.0])
@opts("incidence_angle_deg", step=0.01)
@opts("pixel_size_mm", step=0.001)
@opts("window_scale", step=0.1)
@visible("frame", False)
@categories(("GISAXS", "Preprocess"))
@intent(ImageIntent, name="Canonical pattern", output_map={"image": "image"})
def preprocess_frame(
    frame: np.ndarray,
    energy_kev: float = DEFAULT_ENERGY_KEV,
    distance_mm: float = 2000.0,
    pixel_size_mm: float = 0.172,
    beam_centre_x_px: float = 490.0,
    beam_centre_y_px: float = 900.0,
    incidence_angle_deg: float = DEFAULT_ALPHA_I_DEG,
    tilt_deg: float = 0.0,
    roll_deg: float = 0.0,
    window_scale: float = 1.0,
    fold: bool = FOLD_QY,
) -> Tuple[np.ndarray, np.ndarray]:
    image, mask = resample(
        frame,
        geometry=DetectorGeometry(
            energy_kev=energy_kev,
            distance_mm=distance_mm,
            pixel_size_mm=(pixel_size_mm, pixel_size_mm),
            beam_centre_px=(beam_centre_x_px, beam_centre_y_px),
            incidence_angle_deg=incidence_angle_deg,
            tilt_deg=tilt_deg,
            roll_deg=roll_deg,
        ),
        window_scale=window_scale,
    )
    return fold_qy(image, mask) if fold else (image, mask)
