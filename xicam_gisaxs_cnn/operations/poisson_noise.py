"""Operation: shot noise for a pattern holding a given number of photons."""

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
@display_name("Poisson noise")
@describe_input("image", "Intensity image (any size), non-negative")
@describe_input("counts", "Expected number of photons in the whole image")
@describe_input("seed", "Seed of the random generator; the same seed gives the same noise")
@describe_output("image", "Image with shot noise, in the input's units")
@units("counts", "photons")
@limits("counts", [1.0, 1e12])
@opts("counts", step=1e4)
@limits("seed", [0, 2**31 - 1])
@visible("image", False)
@categories(("GISAXS", "Degrade"))
@intent(ImageIntent, name="Noisy pattern (Poisson)", output_map={"image": "image"})
def poisson_noise(image: np.ndarray, counts: float = 1e6, seed: int = 0) -> np.ndarray:
    return degrade.poisson_noise(image, counts, rng=seed)
