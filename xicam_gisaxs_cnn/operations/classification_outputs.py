"""The outputs that the classify operations share: their descriptions and how Xi-cam shows them."""
from __future__ import annotations

from typing import Callable

from xicam.core.intents import ImageIntent, PlotIntent
from xicam.plugins.operationplugin import describe_output, intent

from ..classes import NUM_CLASSES

_DESCRIPTIONS = {
    "label": "Predicted superlattice class, e.g. 'BCC110'",
    "probabilities": "Probability of each of the 7 classes (SC100 ... HCP0001)",
    "ood_score": "Out-of-distribution score; higher means less like the training data",
    "ood_flag": "True when the OOD score is above the bundle's threshold",
    "saliency": "Which pixels drove the decision, 0 to 1, on the canonical pattern",
}


def classification_outputs(func: Callable) -> Callable:
    """Describe ``func``'s outputs label, probabilities, OOD score and flag and saliency, with the saliency
    image and the class-probability plot as Xi-cam intents; apply it under ``@operation``."""
    for name, description in _DESCRIPTIONS.items():
        func = describe_output(name, description)(func)
    func = intent(ImageIntent, name="Saliency", output_map={"image": "saliency"})(func)
    return intent(
        PlotIntent,
        name="Class probabilities",
        output_map={"y": "probabilities"},
        x=list(range(NUM_CLASSES)),
        labels={"bottom": "class index (SC100 ... HCP0001)", "left": "probability"},
        symbol="o",
    )(func)
