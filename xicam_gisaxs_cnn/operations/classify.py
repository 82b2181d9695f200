"""Operation: classify a canonical GISAXS image with a CNN bundle and explain the decision."""
from typing import Tuple

import numpy as np
from xicam.core.intents import ImageIntent, PlotIntent
from xicam.plugins.operationplugin import (
    categories,
    describe_input,
    describe_output,
    display_name,
    intent,
    operation,
    output_names,
    visible,
)

from ..classes import NUM_CLASSES
from .model_cache import classify_frame


@operation
@output_names("label", "probabilities", "ood_score", "ood_flag", "saliency")
@display_name("Classify superlattice (CNN)")
@describe_input("image", "Intensity image on the canonical 125 x 125 q grid")
@describe_input("mask", "Valid-data mask of the image (True = data); empty for all valid")
@describe_input("model", "Model bundle: a name in the user model directory, a bundle directory, or empty for the default")
@describe_output("label", "Predicted superlattice class, e.g. 'BCC110'")
@describe_output("probabilities", "Probability of each of the 7 classes (SC100 ... HCP0001)")
@describe_output("ood_score", "Out-of-distribution score; higher means less like the training data")
@describe_output("ood_flag", "True when the OOD score is above the bundle's threshold")
@describe_output("saliency", "Which pixels drove the decision, 0 to 1, on the canonical grid")
@visible("image", False)
@visible("mask", False)
@categories(("GISAXS", "Classify"))
@intent(ImageIntent, name="Saliency", output_map={"image": "saliency"})
@intent(
    PlotIntent,
    name="Class probabilities",
    output_map={"y": "probabilities"},
    x=list(range(NUM_CLASSES)),
    labels={"bottom": "class index (SC100 ... HCP0001)", "left": "probability"},
    symbol="o",
)
def classify(
    image: np.ndarray, mask: np.ndarray = None, model: str = ""
) -> Tuple[str, np.ndarray, float, bool, np.ndarray]:
    return classify_frame(image, mask, model=model)
