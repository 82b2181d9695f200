"""The operation plugins, found through Xi-cam's real plugin manager and run on simulated patterns."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytest.importorskip("xicam.plugins", reason="needs the xicam extra: pip install -e .[xicam]")

from xicam.plugins import OperationPlugin, manager  # noqa: E402

from simulated_frames import SMALL_DETECTOR, simulated_frame, simulated_pattern  # noqa: E402
from xicam_gisaxs_cnn import degrade  # noqa: E402
from xicam_gisaxs_cnn.classes import NUM_CLASSES  # noqa: E402
from xicam_gisaxs_cnn.frames.fold import fold_qy  # noqa: E402
from xicam_gisaxs_cnn.frames.resample import resample  # noqa: E402
from xicam_gisaxs_cnn.models import load_model  # noqa: E402

OPERATIONS = {
    "gisaxs_smear": ("GISAXS", "Degrade"),
    "gisaxs_gaussian_noise": ("GISAXS", "Degrade"),
    "gisaxs_poisson_noise": ("GISAXS", "Degrade"),
    "gisaxs_rescale": ("GISAXS", "Degrade"),
    "gisaxs_preprocess_frame": ("GISAXS", "Preprocess"),
    "gisaxs_classify": ("GISAXS", "Classify"),
    "gisaxs_classify_detector_frame": ("GISAXS", "Classify"),
}


@pytest.fixture(scope="module")
def discovered():
    """Operation classes as Xi-cam's plugin manager loads them from the installed entry points."""
    manager.collect_plugins()
    return {name: manager.get_plugin_by_name(name, "OperationPlugin") for name in OPERATIONS}


@pytest.fixture(scope="module")
def pattern():
    return simulated_pattern("BCC110", seed=3)


def test_plugin_manager_discovers_every_operation_in_its_category(discovered):
    for name, category in OPERATIONS.items():
        operation_class = discovered[name]
        assert issubclass(operation_class, OperationPlugin), name
        assert operation_class._func.__module__.startswith("xicam_gisaxs_cnn.operations."), name
        assert list(operation_class.categories) == [category], name
    assert discovered["gisaxs_classify"].output_names == ("label", "probabilities", "ood_score", "ood_flag", "saliency")
    assert discovered["gisaxs_preprocess_frame"].output_names == ("image", "mask")
    assert discovered["gisaxs_classify_detector_frame"].output_names == (
        "label", "probabilities", "ood_score", "ood_flag", "window_scale", "image", "mask", "saliency")


@pytest.mark.parametrize(
    "name, inputs, reference",
    [
        ("gisaxs_smear", {"sigma_px": 1.5}, lambda image: degrade.smear(image, 1.5)),
        ("gisaxs_rescale", {"size": 25}, lambda image: degrade.rescale(image, 25)),
        ("gisaxs_gaussian_noise", {"alpha": 0.5, "seed": 7}, lambda image: degrade.gaussian_noise(image, 0.5, rng=7)),
        ("gisaxs_poisson_noise", {"counts": 1e4, "seed": 7}, lambda image: degrade.poisson_noise(image, 1e4, rng=7)),
    ],
)
def test_degrade_operation_output_equals_the_pure_function(discovered, pattern, name, inputs, reference):
    operation = discovered[name](**inputs)
    result = operation(image=pattern)
    np.testing.assert_array_equal(result, reference(pattern))
    assert not np.allclose(result, pattern)  # the degradation did change the pattern


def test_noise_operations_repeat_with_the_same_seed_and_differ_with_another(discovered, pattern):
    noise = discovered["gisaxs_poisson_noise"]
    first = noise(counts=1e5, seed=1)(image=pattern)
    np.testing.assert_array_equal(first, noise(counts=1e5, seed=1)(image=pattern))
    assert not np.array_equal(first, noise(counts=1e5, seed=2)(image=pattern))


def test_parameter_widgets_carry_types_units_and_limits(discovered):
    parameters = {p["name"]: p for p in discovered["gisaxs_smear"]().as_parameter()}
    assert "image" not in parameters  # data inputs are wired by the workflow, not typed in
    assert parameters["sigma_px"]["type"] == "float"
    assert parameters["sigma_px"]["units"] == "px"
    assert parameters["sigma_px"]["limits"] == [0.0, 10.0]
    geometry = {p["name"]: p for p in discovered["gisaxs_preprocess_frame"]().as_parameter()}
    assert geometry["energy_kev"]["units"] == "keV"
    assert geometry["incidence_angle_deg"]["units"] == "deg"
    assert geometry["distance_mm"]["value"] == 2000.0
    detector = {p["name"]: p for p in discovered["gisaxs_classify_detector_frame"]().as_parameter()}
    assert "frame" not in detector  # wired by the workflow
    assert {name: detector[name]["units"] for name in ("energy_kev", "beam_centre_x_px")} == {"energy_kev": "keV",
                                                                                           "beam_centre_x_px": "px"}
    assert detector["incidence_angle_deg"]["limits"] == geometry["incidence_angle_deg"]["limits"]
    assert detector["window_scale"]["value"] == "ensemble" and detector["model"]["value"] == ""
    assert {p["name"] for p in discovered["gisaxs_rescale"]().as_parameter()} == {"size"}
    assert discovered["gisaxs_rescale"]().as_parameter()[0]["type"] == "int"


def test_every_operation_documents_its_inputs(discovered):
    for name, operation_class in discovered.items():
        described = set(operation_class._func.input_descriptions)
        assert described == set(operation_class.input_names), name


def test_preprocess_operation_equals_frames_resample_folded_about_qy_0(discovered):
    frame = simulated_frame("FCC111", seed=1)
    x_px, y_px = SMALL_DETECTOR.beam_centre_px
    operation = discovered["gisaxs_preprocess_frame"](
        energy_kev=10.0, distance_mm=1000.0, pixel_size_mm=0.172, beam_centre_x_px=x_px, beam_centre_y_px=y_px,
        incidence_angle_deg=0.2,
    )
    image, mask = operation(frame=frame)
    expected_image, expected_mask = fold_qy(*resample(frame, geometry=SMALL_DETECTOR))
    np.testing.assert_array_equal(image, expected_image)
    np.testing.assert_array_equal(mask, expected_mask)
    unfolded = discovered["gisaxs_preprocess_frame"](
        energy_kev=10.0, distance_mm=1000.0, pixel_size_mm=0.172, beam_centre_x_px=x_px, beam_centre_y_px=y_px,
        incidence_angle_deg=0.2, fold=False,
    )(frame=frame)
    np.testing.assert_array_equal(unfolded[0], resample(frame, geometry=SMALL_DETECTOR)[0])
    assert mask[0].all() and not mask[-1].any()  # data up to qz = 2 nm^-1, nothing at the horizon row


def test_preprocess_operation_rejects_an_off_detector_beam_centre(discovered):
    operation = discovered["gisaxs_preprocess_frame"](beam_centre_x_px=5000.0)
    with pytest.raises(ValueError, match="beam_centre_px"):
        operation(frame=np.ones((250, 240)))


def test_classify_operation_equals_the_classifier(discovered, pattern, untrained_bundle):
    mask = np.ones(pattern.shape, dtype=bool)
    mask[100:] = False
    label, probabilities, ood_score, ood_flag, saliency = discovered["gisaxs_classify"](model=str(untrained_bundle))(
        image=pattern, mask=mask
    )
    classifier = load_model(untrained_bundle)
    prediction = classifier.predict(pattern, mask)
    assert label == prediction.label
    np.testing.assert_allclose(probabilities, prediction.probability, rtol=1e-6)
    assert probabilities.shape == (NUM_CLASSES,) and probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(ood_score) and ood_flag is False  # an untrained bundle carries no OOD statistics
    np.testing.assert_allclose(saliency, classifier.saliency(pattern, mask), rtol=1e-5, atol=1e-7)
    assert saliency.max() == pytest.approx(1.0) and not saliency[100:].any()  # masked rows drive nothing


def test_classify_loads_a_bundle_once_and_shares_it_between_name_and_path(
    discovered, pattern, untrained_bundle, isolated_model_dir
):
    from xicam_gisaxs_cnn.operations.model_cache import _load, cached_model

    named = isolated_model_dir / "my-model"
    shutil.copytree(untrained_bundle, named)
    before = _load.cache_info().misses
    classify = discovered["gisaxs_classify"]
    classify(model="my-model")(image=pattern)
    classify(model=str(named))(image=pattern)
    classify(model="my-model")(image=pattern)
    assert _load.cache_info().misses == before + 1
    assert cached_model("my-model") is cached_model(named)
    first = cached_model(named)
    manifest = named / "manifest.json"
    os.utime(manifest, ns=(manifest.stat().st_atime_ns, manifest.stat().st_mtime_ns + 10**9))
    assert cached_model(named) is not first  # a bundle rewritten in place is loaded afresh


def test_intents_map_onto_declared_outputs(discovered):
    for name, operation_class in discovered.items():
        assert operation_class.intent_blueprints, name
        for blueprint in operation_class.intent_blueprints:
            assert set(blueprint.output_map.values()) <= set(operation_class.output_names), name
    kinds = {blueprint.intent_type for blueprint in discovered["gisaxs_classify"].intent_blueprints}
    assert kinds == {"ImageIntent", "PlotIntent"}
