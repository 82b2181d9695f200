"""Operation: lose resolution by area-averaging down and interpolating back."""

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
    output_names,
    units,
    visible,
)

from .. import degrade
from ..canonical import IMAGE_SIZE


@operation
@output_names("image")
@display_name("Rescale (lose resolution)")
@describe_input("image", "Intensity image, 125 x 125 on the canonical grid")
@describe_input("size", "Intermediate resolution (paper: 100, 75, 50, 25 px)")
@describe_output("image", "Image of the input's shape holding only `size` x `size` pixels of detail")
@units("size", "px")
@limits("size", [2, IMAGE_SIZE])
@visible("image", False)
@categories(("GISAXS", "Degrade"))
@intent(ImageIntent, name="Rescaled pattern", output_map={"image": "image"})
def rescale(image: np.ndarray, size: int = 50) -> np.ndarray:
    return degrade.rescale(image, size)
