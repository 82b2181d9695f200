"""Operation: classify a canonical GISAXS image with a CNN bundle and explain the decision."""
from typing import Tuple

import numpy as np
from xicam.plugins.operationplugin import categories, describe_input, display_name, operation, output_names, visible

from .classification_outputs import classification_outputs
from .model_cache import classify_frame


@operation
@output_names("label", "probabilities", "ood_score", "ood_flag", "saliency")
@display_name("Classify superlattice (CNN)")
@describe_input("image", "Intensity image on the canonical 125 x 125 q grid")
@describe_input("mask", "Valid-data mask of the image (True = data); empty for all valid")
@describe_input("model", "Model bundle: a name in the user model directory, a bundle directory, or empty for the default")
@classification_outputs
@visible("image", False)
@visible("mask", False)
@categories(("GISAXS", "Classify"))
def classify(
    image: np.ndarray, mask: np.ndarray = None, model: str = ""
) -> Tuple[str, np.ndarray, float, bool, np.ndarray]:
    return classify_frame(image, mask, model=model)
