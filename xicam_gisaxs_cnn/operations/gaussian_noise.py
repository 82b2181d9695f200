"""Operation: add Gaussian noise scaled to the pattern's mean intensity."""

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
@display_name("Gaussian noise")
@describe_input("image", "Intensity image (any size), non-negative")
@describe_input("alpha", "Noise standard deviation as a fraction of the mean intensity (paper: 0.1 to 1.0)")
@describe_input("seed", "Seed of the random generator; the same seed gives the same noise")
@describe_output("image", "Noisy image; may hold negative values")
@units("alpha", "x mean intensity")
@limits("alpha", [0.0, 10.0])
@opts("alpha", step=0.1)
@limits("seed", [0, 2**31 - 1])
@visible("image", False)
@categories(("GISAXS", "Degrade"))
@intent(ImageIntent, name="Noisy pattern (Gaussian)", output_map={"image": "image"})
def gaussian_noise(image: np.ndarray, alpha: float = 0.1, seed: int = 0) -> np.ndarray:
    return degrade.gaussian_noise(image, alpha, rng=seed)
