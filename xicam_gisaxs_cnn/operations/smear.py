"""Operation: blur a GISAXS pattern with a Gaussian (instrumental resolution)."""

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

from .. import degrade


@operation
@output_names("image")
@display_name("Smear (Gaussian blur)")
@describe_input("image", "Intensity image (any size), non-negative")
@describe_input("sigma_px", "Standard deviation of the Gaussian along both axes (paper: 0.5 and 1.0 px)")
@describe_output("image", "Smeared image; same shape and total intensity as the input")
@units("sigma_px", "px")
@limits("sigma_px", [0.0, 10.0])
@opts("sigma_px", step=0.25)
@visible("image", False)
@categories(("GISAXS", "Degrade"))
@intent(ImageIntent, name="Smeared pattern", output_map={"image": "image"})
def smear(image: np.ndarray, sigma_px: float = 1.0) -> np.ndarray:
    return degrade.smear(image, sigma_px)
