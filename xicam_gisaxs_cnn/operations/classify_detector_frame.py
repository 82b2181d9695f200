"""Operation: classify a detector frame of any lattice constant, choosing the q window's scale; explain the decision."""
from typing import Tuple

import numpy as np
from xicam.core.intents import ImageIntent
from xicam.plugins.operationplugin import (
    categories,
    describe_input,
    describe_output,
    display_name,
    intent,
    operation,
    output_names,
)

from ..canonical import DEFAULT_ALPHA_I_DEG, DEFAULT_ENERGY_KEV
from ..frames.fold import FOLD_QY
from ..frames.scale import DETECTOR_FRAME_WINDOW_SCALE
from .classification_outputs import classification_outputs
from .frame_inputs import (
    DEFAULT_BEAM_CENTRE_PX, DEFAULT_DISTANCE_MM, DEFAULT_PIXEL_SIZE_MM, detector_frame_inputs, frame_geometry,
)
from .model_cache import classify_detector_frame as classify_with_cached_model


@operation
@output_names("label", "probabilities", "ood_score", "ood_flag", "window_scale", "image", "mask", "saliency")
@display_name("Classify detector frame (CNN)")
@detector_frame_inputs
@describe_input("window_scale", "Zoom of the q window (qy in [-1, 1]/s, qz in [0, 2]/s nm^-1): a number s, or "
                                "'ensemble' (up to 25 scales averaged), 'confidence' or 'auto' to choose it per frame")
@describe_input("model", "Model bundle: a name in the user model directory, a bundle directory, or empty for the "
                         "shipped 'frames' model (trained across lattice scales and detector artefacts)")
@classification_outputs
@describe_output("window_scale", "The q window's scale the frame was classified at (the one chosen, with a mode)")
@describe_output("image", "The canonical 125 x 125 pattern at that scale")
@describe_output("mask", "True where the canonical cell holds data")
@categories(("GISAXS", "Classify"))
@intent(ImageIntent, name="Canonical pattern", output_map={"image": "image"})
def classify_detector_frame(
    frame: np.ndarray,
    energy_kev: float = DEFAULT_ENERGY_KEV,
    distance_mm: float = DEFAULT_DISTANCE_MM,
    pixel_size_mm: float = DEFAULT_PIXEL_SIZE_MM,
    beam_centre_x_px: float = DEFAULT_BEAM_CENTRE_PX[0],
    beam_centre_y_px: float = DEFAULT_BEAM_CENTRE_PX[1],
    incidence_angle_deg: float = DEFAULT_ALPHA_I_DEG,
    tilt_deg: float = 0.0,
    roll_deg: float = 0.0,
    window_scale: str = DETECTOR_FRAME_WINDOW_SCALE,
    fold: bool = FOLD_QY,
    model: str = "",
) -> Tuple[str, np.ndarray, float, bool, float, np.ndarray, np.ndarray, np.ndarray]:
    geometry = frame_geometry(energy_kev, distance_mm, pixel_size_mm, beam_centre_x_px, beam_centre_y_px,
                              incidence_angle_deg, tilt_deg, roll_deg)
    return classify_with_cached_model(frame, geometry=geometry, window_scale=window_scale, fold=fold, model=model)
