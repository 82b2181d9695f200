"""The ready-made Xi-cam workflows, run headless on simulated frames and checked against the pure functions."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("xicam.core.execution", reason="needs the xicam extra: pip install -e .[xicam]")

from xicam.core.execution import Workflow  # noqa: E402

from simulated_frames import SMALL_DETECTOR, simulated_frame, simulated_pattern  # noqa: E402
from xicam_gisaxs_cnn import degrade  # noqa: E402
from xicam_gisaxs_cnn.frames import canonical_frame, classify_frames  # noqa: E402
from xicam_gisaxs_cnn.frames.fold import fold_qy  # noqa: E402
from xicam_gisaxs_cnn.frames.resample import resample  # noqa: E402
from xicam_gisaxs_cnn.frames.scale import LADDER_CANDIDATES  # noqa: E402
from xicam_gisaxs_cnn.models import load_model  # noqa: E402
from xicam_gisaxs_cnn.operations.model_cache import classify_frame  # noqa: E402
from xicam_gisaxs_cnn.workflows import (  # noqa: E402
    CLASSIFY_WORKFLOW_NAME,
    ROBUSTNESS_WORKFLOW_NAME,
    classify_workflow,
    robustness_workflow,
    run_workflow,
)

GEOMETRY_INPUTS = {
    "energy_kev": SMALL_DETECTOR.energy_kev,
    "distance_mm": SMALL_DETECTOR.distance_mm,
    "pixel_size_mm": SMALL_DETECTOR.pixel_size_mm[0],
    "beam_centre_x_px": SMALL_DETECTOR.beam_centre_px[0],
    "beam_centre_y_px": SMALL_DETECTOR.beam_centre_px[1],
    "incidence_angle_deg": SMALL_DETECTOR.incidence_angle_deg,
}


def _assert_same_classification(result: dict, expected: tuple) -> None:
    label, probabilities, ood_score, ood_flag, saliency = expected
    assert result["label"] == label
    np.testing.assert_allclose(result["probabilities"], probabilities, rtol=1e-6)
    np.testing.assert_allclose(result["saliency"], saliency, rtol=1e-5, atol=1e-7)
    assert result["ood_flag"] == ood_flag


def test_workflows_are_real_xicam_workflows_with_their_names(untrained_bundle):
    classify = classify_workflow(model=str(untrained_bundle))
    robustness = robustness_workflow(model=str(untrained_bundle))
    assert isinstance(classify, Workflow) and isinstance(robustness, Workflow)
    assert classify.name == CLASSIFY_WORKFLOW_NAME == "classify"
    assert robustness.name == ROBUSTNESS_WORKFLOW_NAME == "robustness study"
    assert [op.name for op in robustness.operations] == [
        "Smear (Gaussian blur)", "Rescale (lose resolution)", "Poisson noise", "Gaussian noise",
        "Classify superlattice (CNN)",
    ]


def test_classify_workflow_labels_a_frame_as_the_command_line_does(untrained_bundle):
    """The one step chooses the window scale as ``gisaxs-cnn classify`` does (``ensemble``) and explains the
    decision on the canonical pattern at the chosen scale."""
    frame = simulated_frame("HCP0001", seed=2)
    workflow = classify_workflow(model=str(untrained_bundle))
    assert [op.name for op in workflow.operations] == ["Classify detector frame (CNN)"]
    result = run_workflow(workflow, frame=frame, **GEOMETRY_INPUTS)
    (expected,) = classify_frames([frame], classifier=load_model(untrained_bundle), geometry=SMALL_DETECTOR,
                                  sources=["frame"], window_scale="ensemble")
    assert result["label"] == expected.label and result["window_scale"] == expected.window_scale
    np.testing.assert_allclose(result["probabilities"], expected.probabilities, rtol=1e-6)
    assert result["window_scale"] in LADDER_CANDIDATES
    image, mask = canonical_frame(frame, geometry=SMALL_DETECTOR, window_scale=result["window_scale"])
    np.testing.assert_array_equal(result["image"], image)
    np.testing.assert_array_equal(result["mask"], mask)
    np.testing.assert_allclose(result["saliency"], classify_frame(image, mask, model=untrained_bundle)[4], rtol=1e-5,
                               atol=1e-7)
    assert not result["saliency"][~mask].any()  # masked cells (below the horizon) never drive the decision


def test_classify_workflow_at_a_fixed_scale_equals_resample_fold_then_classify(untrained_bundle):
    frame = simulated_frame("SC110", seed=3)
    result = run_workflow(classify_workflow(model=str(untrained_bundle), window_scale="1"), frame=frame,
                          **GEOMETRY_INPUTS)
    image, mask = fold_qy(*resample(frame, geometry=SMALL_DETECTOR))
    _assert_same_classification(result, classify_frame(image, mask, model=untrained_bundle))
    assert result["window_scale"] == 1.0


def test_classify_workflow_names_a_frame_it_cannot_classify(untrained_bundle):
    with pytest.raises(ValueError, match="window scale must be"):
        run_workflow(classify_workflow(model=str(untrained_bundle), window_scale="wide"),
                     frame=simulated_frame("SC100", seed=1), **GEOMETRY_INPUTS)
    with pytest.raises(ValueError, match="no finite value"):
        run_workflow(classify_workflow(model=str(untrained_bundle)), frame=np.full((250, 240), np.nan),
                     **GEOMETRY_INPUTS)


def test_robustness_workflow_equals_the_chained_degradations(untrained_bundle):
    pattern = simulated_pattern("SC110", seed=4)
    workflow = robustness_workflow(sigma_px=1.0, size=50, counts=1e5, alpha=0.2, seed=9, model=str(untrained_bundle))
    result = run_workflow(workflow, image=pattern)
    degraded = degrade.gaussian_noise(
        degrade.poisson_noise(degrade.rescale(degrade.smear(pattern, 1.0), 50), 1e5, rng=9), 0.2, rng=9
    )
    _assert_same_classification(result, classify_frame(degraded, model=untrained_bundle))
    clean = classify_frame(pattern, model=untrained_bundle)
    assert not np.allclose(result["probabilities"], clean[1], rtol=1e-4)  # the degradations reached the model


def test_disabling_a_step_in_the_robustness_workflow_skips_it(untrained_bundle):
    pattern = simulated_pattern("FCC100", seed=5)
    workflow = robustness_workflow(counts=1e5, alpha=0.1, seed=3, model=str(untrained_bundle))
    smear_step, rescale_step = workflow.operations[:2]
    workflow.set_disabled(smear_step)
    workflow.set_disabled(rescale_step)
    result = run_workflow(workflow, image=pattern)
    degraded = degrade.gaussian_noise(degrade.poisson_noise(pattern, 1e5, rng=3), 0.1, rng=3)
    _assert_same_classification(result, classify_frame(degraded, model=untrained_bundle))
