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
)

from ..canonical import DEFAULT_ALPHA_I_DEG, DEFAULT_ENERGY_KEV
from ..frames.fold import FOLD_QY, fold_qy
from ..frames.resample import resample
from .frame_inputs import (
    DEFAULT_BEAM_CENTRE_PX, DEFAULT_DISTANCE_MM, DEFAULT_PIXEL_SIZE_MM, detector_frame_inputs, frame_geometry,
)


@operation
@output_names("image", "mask")
@display_name("Detector frame to canonical q grid")
@detector_frame_inputs
@describe_input("window_scale", "Zoom of the q window: qy in [-1, 1]/s, qz in [0, 2]/s nm^-1")
@describe_output("image", "Mean counts per canonical cell, 125 x 125, 0 where masked")
@describe_output("mask", "True where the cell holds data (not gap, beam stop or below the horizon)")
@limits("window_scale", [0.05, 20.0])
@opts("window_scale", step=0.1)
@categories(("GISAXS", "Preprocess"))
@intent(ImageIntent, name="Canonical pattern", output_map={"image": "image"})
def preprocess_frame(
    frame: np.ndarray,
    energy_kev: float = DEFAULT_ENERGY_KEV,
    distance_mm: float = DEFAULT_DISTANCE_MM,
    pixel_size_mm: float = DEFAULT_PIXEL_SIZE_MM,
    beam_centre_x_px: float = DEFAULT_BEAM_CENTRE_PX[0],
    beam_centre_y_px: float = DEFAULT_BEAM_CENTRE_PX[1],
    incidence_angle_deg: float = DEFAULT_ALPHA_I_DEG,
    tilt_deg: float = 0.0,
    roll_deg: float = 0.0,
    window_scale: float = 1.0,
    fold: bool = FOLD_QY,
) -> Tuple[np.ndarray, np.ndarray]:
    geometry = frame_geometry(energy_kev, distance_mm, pixel_size_mm, beam_centre_x_px, beam_centre_y_px,
                              incidence_angle_deg, tilt_deg, roll_deg)
    image, mask = resample(frame, geometry=geometry, window_scale=window_scale)
    return fold_qy(image, mask) if fold else (image, mask)
