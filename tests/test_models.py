"""Architectures, weight bundles (checksums, contract) and the classifier API."""
import json
import shutil

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.models import (
    ARCHITECTURES, BundleError, NearestNeighbourOod, OodStatistics, build_model, list_models, load_model, save_bundle, user_model_dir,
)


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_every_architecture_maps_a_batch_to_seven_logits_and_an_embedding(architecture):
    model = build_model(architecture).eval()
    inputs = torch.rand(2, 3, 125, 125)
    with torch.no_grad():
        logits, embedding = model(inputs), model.embed(inputs)
    assert logits.shape == (2, 7)
    assert torch.allclose(model.fc(embedding), logits, atol=1e-5)


def test_compact_model_is_small_enough_to_ship():
    parameters = sum(p.numel() for p in build_model("compact").parameters())
    assert parameters * 4 < 4e6  # bytes as float32


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="unknown architecture 'lenet'"):
        build_model("lenet")


def test_bundle_round_trip_gives_identical_predictions(tmp_path):
    torch.manual_seed(1)
    model = build_model("compact").eval()
    path = save_bundle(model, tmp_path / "m", temperature=2.0, metrics={"clean_accuracy": 0.5})
    classifier = load_model(path)
    images = np.random.default_rng(0).random((3, 125, 125))
    prediction = classifier.predict(images)
    with torch.no_grad():
        from xicam_gisaxs_cnn.preprocess import model_input_torch
        logits = model(model_input_torch(torch.from_numpy(images).float()[:, None]))
    np.testing.assert_allclose(prediction.probabilities, torch.softmax(logits / 2.0, 1).numpy(), rtol=1e-5, atol=1e-6)
    assert prediction.labels == [CLASS_NAMES[i] for i in logits.argmax(1).tolist()]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["classes"] == list(CLASS_NAMES) and manifest["metrics"]["clean_accuracy"] == 0.5
    assert len(manifest["sha256"]) == 64


def test_single_image_prediction_has_scalar_accessors(untrained_bundle):
    prediction = load_model(untrained_bundle).predict(np.ones((125, 125)))
    assert prediction.label in CLASS_NAMES
    assert prediction.probability.shape == (7,) and prediction.probability.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(prediction.ood_score)  # no OOD statistics in an untrained bundle


def test_tampered_weights_fail_the_checksum(untrained_bundle, tmp_path):
    copy = shutil.copytree(untrained_bundle, tmp_path / "copy")
    with open(copy / "model.safetensors", "r+b") as stream:
        stream.seek(-4, 2)
        stream.write(b"\x00\x01\x02\x03")
    with pytest.raises(BundleError, match="sha256"):
        load_model(copy)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("classes", ["A", "B"], "classes"),
        ("canonical_grid", {"size": 64}, "canonical_grid"),
        ("preprocessing", {"name": "linear"}, "preprocessing"),
        ("ensemble_temperature", 0, "ensemble_temperature must be a finite number > 0, got 0"),
        ("ensemble_temperature", "0.2", "ensemble_temperature must be a finite number > 0, got '0.2'"),
    ],
)
def test_bundle_with_another_contract_is_refused(untrained_bundle, tmp_path, key, value, message):
    copy = shutil.copytree(untrained_bundle, tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest[key] = value
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        load_model(copy)


def test_the_ensemble_temperature_travels_in_the_bundle_and_is_checked(tmp_path):
    model = build_model("compact", width=8).eval()
    assert load_model(save_bundle(model, tmp_path / "plain", architecture_kwargs={"width": 8})).ensemble_temperature == 1.0
    classifier = load_model(save_bundle(model, tmp_path / "sharp", architecture_kwargs={"width": 8},
                                        ensemble_temperature=0.2))
    assert classifier.manifest["ensemble_temperature"] == classifier.ensemble_temperature == 0.2
    classifier.ensemble_temperature = np.float32(0.5)
    assert classifier.ensemble_temperature == 0.5 and type(classifier.ensemble_temperature) is float
    for bad in (0.0, -1.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match="ensemble_temperature must be a finite number > 0"):
            classifier.ensemble_temperature = bad
    with pytest.raises(BundleError, match="ensemble_temperature must be a finite number > 0, got -0.5"):
        save_bundle(model, tmp_path / "bad", ensemble_temperature=-0.5)


def test_missing_bundle_names_where_it_looked(tmp_path):
    with pytest.raises(BundleError, match="no model bundle 'nope'"):
        load_model("nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="no model bundle"):
        load_model(tmp_path / "empty")


def test_bundles_in_the_user_directory_are_found_by_name(untrained_bundle):
    shutil.copytree(untrained_bundle, user_model_dir() / "mine")
    assert "mine" in list_models()
    assert load_model("mine").name == "untrained"


def test_wrong_image_shape_or_type_is_a_clear_error(untrained_bundle):
    classifier = load_model(untrained_bundle)
    with pytest.raises(ValueError, match="canonical 125x125"):
        classifier.predict(np.ones((100, 100)))
    with pytest.raises(ValueError, match="masks shape"):
        classifier.predict(np.ones((2, 125, 125)), masks=np.ones((1, 125, 125), bool))
    with pytest.raises(ValueError, match="images must hold numbers, got dtype object"):
        classifier.predict(np.full((125, 125), None))
    with pytest.raises(ValueError, match="images must be real, got torch.complex128"):
        classifier.predict(np.ones((125, 125), complex))
    with pytest.raises(ValueError, match="masks must hold numbers, got dtype <U1"):
        classifier.predict(np.ones((3, 125, 125)), masks=np.broadcast_to(np.full((125, 125), "y"), (3, 125, 125)))


def test_ood_statistics_score_distance_from_the_class_means(tmp_path):
    means = torch.zeros(7, 4)
    means[1] = 10.0
    statistics = OodStatistics(means, torch.eye(4), threshold=3.0)
    scores = statistics.score(torch.tensor([[0.0, 0, 0, 0], [10.0, 10, 10, 10], [5.0, 5, 5, 5]]))
    np.testing.assert_allclose(scores.numpy(), [0.0, 0.0, 25.0])


def test_saliency_is_zero_on_masked_pixels(untrained_bundle):
    mask = np.ones((125, 125), bool)
    mask[:, :40] = False
    image = np.random.default_rng(0).random((125, 125))
    classifier = load_model(untrained_bundle)
    classifier.predict(image, mask)  # keeps this mask's high-pass weights, made in inference mode
    saliency = classifier.saliency(image, mask)  # which the gradient path then reuses
    assert saliency.shape == (125, 125) and saliency.max() == pytest.approx(1.0)
    assert not saliency[:, :40].any()


def test_high_pass_channel_isolates_a_peak_from_a_smooth_background():
    from xicam_gisaxs_cnn.preprocess import MASK_CHANNEL, model_input

    qz = np.linspace(2, 0, 125)[:, None] * np.ones((1, 125))
    image = np.exp(-3 * qz)  # smooth form-factor-like fall-off
    image[60, 40] *= 50.0  # one Bragg peak
    channels = model_input(image)
    high_pass = channels[1]
    assert np.unravel_index(np.abs(high_pass).argmax(), high_pass.shape) == (60, 40)
    assert np.abs(high_pass[:, 80:]).max() < 0.05 * high_pass[60, 40]  # the smooth part is (nearly) gone, edges included
    assert channels[MASK_CHANNEL].all()


def test_high_pass_is_the_log_channel_minus_its_mean_over_the_valid_pixels_of_each_window():
    from xicam_gisaxs_cnn.preprocess import HIGH_PASS_GAIN, HIGH_PASS_WINDOW_PX, model_input

    rng = np.random.default_rng(3)
    image = rng.gamma(0.5, 10.0, size=(125, 125))
    mask = rng.random((125, 125)) > 0.3
    logged, high_pass, valid = model_input(image, mask)
    half = HIGH_PASS_WINDOW_PX // 2
    for row, column in [(0, 0), (3, 124), (62, 62), (124, 7), (100, 120)]:
        window = np.s_[max(row - half, 0):row + half + 1, max(column - half, 0):column + half + 1]
        expected = HIGH_PASS_GAIN * (logged[row, column] - logged[window][valid[window] > 0].mean()) * valid[row, column]
        assert high_pass[row, column] == pytest.approx(expected, abs=1e-5)


def test_the_kept_mask_weight_follows_each_new_mask():
    from xicam_gisaxs_cnn.preprocess import HIGH_PASS_GAIN, HIGH_PASS_WINDOW_PX, model_input

    rng = np.random.default_rng(5)
    image = rng.gamma(0.5, 10.0, size=(125, 125))
    first, second = rng.random((125, 125)) > 0.3, rng.random((125, 125)) > 0.6
    half, pixel = HIGH_PASS_WINDOW_PX // 2, (62, 62)
    window = np.s_[pixel[0] - half:pixel[0] + half + 1, pixel[1] - half:pixel[1] + half + 1]
    first[pixel] = second[pixel] = True
    for mask in (first, second, first, None, second):  # each call's mask differs from the one before
        logged, high_pass, valid = model_input(image, mask)
        expected = HIGH_PASS_GAIN * (logged[pixel] - logged[window][valid[window] > 0].mean())
        assert high_pass[pixel] == pytest.approx(expected, abs=1e-5)
        np.testing.assert_array_equal(valid, np.ones((125, 125)) if mask is None else mask)


def test_a_batch_that_shares_one_mask_gives_each_image_what_it_gets_alone():
    from xicam_gisaxs_cnn.canonical import horizon_mask
    from xicam_gisaxs_cnn.preprocess import model_input, model_input_torch

    images = np.random.default_rng(4).gamma(0.5, 10.0, size=(3, 125, 125)).astype(np.float32)
    images[1] = 0.0  # no signal: zeros in the intensity channels
    masks = np.broadcast_to(horizon_mask(), images.shape)
    batch = model_input_torch(torch.from_numpy(images)[:, None], torch.from_numpy(masks.copy())[:, None]).numpy()
    for image, mask, inputs in zip(images, masks, batch):
        np.testing.assert_allclose(inputs, model_input(image, mask), atol=1e-6)
    assert not batch[1, :2].any()
    # one mask expanded along the batch (zero stride, no pixel comparison) gives the same
    expanded = torch.from_numpy(horizon_mask())[None, None].expand(3, 1, 125, 125)
    np.testing.assert_array_equal(model_input_torch(torch.from_numpy(images)[:, None], expanded).numpy(), batch)


def test_nearest_neighbour_ood_scores_the_kth_smallest_cosine_distance():
    rng = np.random.default_rng(21)
    references = rng.normal(size=(300, 16))
    references /= np.linalg.norm(references, axis=1, keepdims=True)
    embeddings = rng.normal(size=(9, 16)) * rng.uniform(0.1, 5.0, size=(9, 1))  # any length: only directions count
    distances = 1.0 - (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)) @ references.T
    for k in (1, 2, 5):
        scores = NearestNeighbourOod(torch.from_numpy(references).float(), k, threshold=0.5).score(torch.from_numpy(embeddings))
        np.testing.assert_allclose(scores.numpy(), np.sort(distances, axis=1)[:, k - 1], atol=1e-6)


def test_nearest_neighbour_ood_round_trips_through_a_bundle_and_scores_cosine_distance(tmp_path):
    model = build_model("compact")
    references = torch.eye(model.fc.in_features)[:50]  # unit vectors e_0 ... e_49
    directory = save_bundle(model, tmp_path / "knn", ood=NearestNeighbourOod(references, 1, threshold=0.25))
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["ood"] == {"method": "knn-cosine", "threshold": 0.25, "k": 1, "references": 50}
    loaded = load_model(directory).bundle.ood
    assert isinstance(loaded, NearestNeighbourOod) and loaded.k == 1 and torch.equal(loaded.references, references)
    probes = torch.stack([3.0 * references[0], references[0] + references[1], torch.eye(model.fc.in_features)[60]])
    np.testing.assert_allclose(loaded.score(probes).numpy(), [0.0, 1 - 2**-0.5, 1.0], atol=1e-6)
    manifest["ood"]["method"] = "magic"
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="unknown OOD method 'magic'"):
        load_model(directory)
