"""Ready-made Xi-cam workflows built from this package's operation plugins.

``classify_workflow``: detector frame -> label, choosing the q window's scale (the
shipped ``frames`` model, ``ensemble``, as ``gisaxs-cnn classify``).
``robustness_workflow``: canonical pattern -> smear -> rescale -> Poisson noise
-> Gaussian noise -> CNN, the paper's degradations in an order that keeps each
step's input valid (Gaussian noise, which can make intensities negative, comes
last). Both are real :class:`xicam.core.execution.Workflow` objects: open them
in Xi-cam's workflow editor, disable a step, or run them headless with
:func:`run_workflow`.
"""
from __future__ import annotations

from typing import Any

from xicam.core.execution import Workflow
from xicam.core.execution.localexecutor import LocalExecutor

from .frames.scale import DETECTOR_FRAME_WINDOW_SCALE
from .operations.classify import classify
from .operations.classify_detector_frame import classify_detector_frame
from .operations.gaussian_noise import gaussian_noise
from .operations.poisson_noise import poisson_noise
from .operations.rescale import rescale
from .operations.smear import smear

CLASSIFY_WORKFLOW_NAME: str = "classify"
ROBUSTNESS_WORKFLOW_NAME: str = "robustness study"


def classify_workflow(*, model: str = "", window_scale: str = DETECTOR_FRAME_WINDOW_SCALE) -> Workflow:
    """Detector frame to label, as ``gisaxs-cnn classify`` labels a detector file.

    Parameters
    ----------
    model : str
        Bundle name or directory; ``""`` for the shipped ``frames`` model.
    window_scale : str
        A zoom of the q window (a number), or ``"ensemble"`` (the default), ``"confidence"``
        or ``"auto"`` to choose it per frame.

    Returns
    -------
    Workflow
        One step, "Classify detector frame (CNN)": inputs ``frame`` and the geometry;
        outputs ``label``, ``probabilities``, ``ood_score``, ``ood_flag``, ``window_scale``
        and the canonical ``image``, ``mask`` and ``saliency`` at that scale.
    """
    step = classify_detector_frame(model=model, window_scale=window_scale)
    return Workflow(CLASSIFY_WORKFLOW_NAME, operations=[step])


def robustness_workflow(
    *,
    sigma_px: float = 1.0,
    size: int = 50,
    counts: float = 1e6,
    alpha: float = 0.1,
    seed: int = 0,
    model: str = "",
) -> Workflow:
    """Degrade a canonical pattern as the paper does, then classify it.

    Parameters
    ----------
    sigma_px : float
        Smear standard deviation, px.
    size : int
        Intermediate resolution of the rescale step, px.
    counts : float
        Expected photons in the whole image for the Poisson step.
    alpha : float
        Gaussian noise standard deviation, in units of the mean intensity.
    seed : int
        Seed of both noise steps.
    model : str
        Bundle name or directory; ``""`` for the shipped default.

    Returns
    -------
    Workflow
        Input ``image`` (canonical 125 x 125); outputs those of the classify step.
    """
    steps = [
        smear(sigma_px=sigma_px),
        rescale(size=size),
        poisson_noise(counts=counts, seed=seed),
        gaussian_noise(alpha=alpha, seed=seed),
    ]
    classifier = classify(model=model)
    workflow = Workflow(ROBUSTNESS_WORKFLOW_NAME, operations=[*steps, classifier])
    for source, destination in zip(steps, [*steps[1:], classifier]):
        workflow.add_link(source, destination, "image", "image")
    return workflow


def run_workflow(workflow: Workflow, **inputs: Any) -> dict[str, Any]:
    """Run a single-ended workflow in this thread and return its last step's outputs.

    ``inputs`` fill every step input of that name that no link feeds (e.g.
    ``image=...`` or ``frame=...``). Uses Xi-cam's :class:`LocalExecutor`, so no
    Qt event loop and no dask cluster are needed.
    """
    results = workflow.execute_synchronous(executor=LocalExecutor(), **inputs)
    if len(results) != 1:
        raise ValueError(f"workflow {workflow.name!r} has {len(results)} end steps; run_workflow expects one")
    return results[0]
