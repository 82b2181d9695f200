"""Test-time smearing: masked Gaussian views, and a classifier that averages its probabilities over them."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.degrade import gaussian_matrix, smear
from xicam_gisaxs_cnn.models import BundleError, MaxSoftmaxOod, build_model, load_model, save_bundle
from xicam_gisaxs_cnn.models.test_time import check_smear_views, masked_smear, parse_smear_view, view_label


def _batch(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(array, dtype=np.float32))[None, None]


@pytest.mark.parametrize("shape", [(40, 50), (125, 125), (130, 26)])
def test_without_a_mask_it_is_the_plain_smear(shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    np.testing.assert_allclose(masked_smear(_batch(image), None, 1.5)[0, 0].numpy(), smear(image, 1.5), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("qy_px, qz_px", [(1.0, 0.0), (0.0, 2.0), (0.5, 1.5)])
def test_a_view_of_two_widths_smears_qy_along_the_columns_and_qz_along_the_rows(qy_px, qz_px):
    image = np.random.default_rng(2).random((125, 125))
    expected = gaussian_matrix(125, qz_px) @ image @ gaussian_matrix(125, qy_px).T
    np.testing.assert_allclose(masked_smear(_batch(image), None, (qy_px, qz_px))[0, 0].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_smear_along_qy_keeps_every_row_to_itself():
    image = np.zeros((125, 125), dtype=np.float32)
    image[40, 60] = 100.0  # one bright pixel on a Bragg rod
    smeared = masked_smear(_batch(image), None, (1.0, 0.0))[0, 0].numpy()
    assert np.count_nonzero(smeared[40]) > 1 and not np.delete(smeared, 40, axis=0).any()  # spread along qy only
    np.testing.assert_allclose(smeared[40].sum(), 100.0, rtol=1e-5)


def test_the_smear_is_a_product_of_two_matrices():
    image = np.random.default_rng(1).random((17, 23))
    np.testing.assert_allclose(gaussian_matrix(17, 2.0) @ image @ gaussian_matrix(23, 2.0).T, smear(image, 2.0), rtol=1e-12)
    np.testing.assert_allclose(gaussian_matrix(17, 2.0).sum(axis=1), 1.0)
    np.testing.assert_array_equal(gaussian_matrix(5, 0.0), np.eye(5))


@pytest.mark.parametrize("view", [2.0, (2.0, 0.0), (0.0, 2.0)])
@pytest.mark.parametrize("dead_pixel", [False, True])
def test_masked_pixels_neither_darken_their_neighbours_nor_change(dead_pixel, view):
    image = np.full((30, 40), 4.0, dtype=np.float32)
    mask = np.ones((30, 40), dtype=bool)
    mask[:, 12:15] = False  # a module gap holding negative values
    image[~mask] = -2.0
    if dead_pixel:
        image[5, 5] = np.nan  # counted as masked
    smeared = masked_smear(_batch(image), torch.from_numpy(mask)[None, None], view)[0, 0].numpy()
    valid = mask & np.isfinite(image)
    np.testing.assert_allclose(smeared[valid], 4.0, rtol=1e-6)  # a plain smear would pull the gap's edges down
    assert (smeared[:, 12:15] == -2.0).all() and np.isnan(smeared[5, 5]) == dead_pixel


def test_a_width_of_zero_is_the_image_itself():
    images = _batch(np.arange(16.0).reshape(4, 4))
    assert masked_smear(images, None, 0.0) is images and masked_smear(images, None, (0.0, 0.0)) is images


def test_views_are_widths_or_pairs_of_widths_along_qy_and_qz():
    assert check_smear_views([0, [1, 0]]) == (0.0, (1.0, 0.0))
    assert check_smear_views([[2, 2], 1.5]) == (2.0, 1.5)  # equal widths: the same along both axes
    assert check_smear_views(1) == (1.0,) and check_smear_views(np.array([[0.0, 0.0], [1.0, 0.0]])) == (0.0, (1.0, 0.0))
    assert [parse_smear_view(text) for text in ("0", "1.5", "1x0", "0x2", "1x1")] == [0.0, 1.5, (1.0, 0.0), (0.0, 2.0), 1.0]
    assert [view_label(view) for view in (0.0, 1.5, (1.0, 0.0))] == ["0", "1.5", "1x0"]


@pytest.mark.parametrize("text", ["1x", "x1", "1x2x3", "wide", ""])
def test_a_view_written_wrong_on_the_command_line_is_named(text):
    with pytest.raises(ValueError, match=f"a test-time view is PX or QYxQZ .*, got '{text}'"):
        parse_smear_view(text)


@pytest.mark.parametrize("widths, message", [
    ([], "1 to 8 views"), ([0.0] * 9, "1 to 8 views"), ([0.0, -1.0], "widths in"), ([float("nan")], "widths in"),
    ([0.0, 11.0], "widths in"), ([0.0, [1.0, 11.0]], "widths in"), ([[1.0, -1.0]], "widths in"),
    (["wide"], r"must be widths \(px\) or \[qy_px, qz_px\] pairs"), ([[1.0, 0.0, 2.0]], "pairs"), ([[1.0]], "pairs"),
])
def test_bad_views_are_named(widths, message):
    with pytest.raises(ValueError, match=message):
        check_smear_views(widths)


@pytest.fixture(scope="module")
def two_view_bundle(tmp_path_factory):
    torch.manual_seed(3)
    return save_bundle(build_model("compact").eval(), tmp_path_factory.mktemp("bundles") / "views", temperature=0.02,
                       ood=MaxSoftmaxOod(0.5), test_time_smear_px=(0.0, 1.0))


def test_the_probabilities_are_the_mean_over_the_views(two_view_bundle):
    rng = np.random.default_rng(7)
    images = rng.poisson(3.0, (5, 125, 125)).astype(np.float32)
    masks = np.ones_like(images, dtype=bool)
    masks[:, :, 60:66] = False
    classifier = load_model(two_view_bundle)
    assert json.loads((two_view_bundle / "manifest.json").read_text())["test_time_smear_px"] == [0.0, 1.0]
    both = classifier.predict(images, masks)
    classifier.test_time_smear_px = [0.0]
    sharp = classifier.predict(images, masks)
    smeared_images = masked_smear(torch.from_numpy(images)[:, None], torch.from_numpy(masks)[:, None], 1.0)[:, 0]
    smeared = classifier.predict(smeared_images.numpy(), masks)
    expected = (sharp.probabilities + smeared.probabilities) / 2
    np.testing.assert_allclose(both.probabilities, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(sharp.probabilities, smeared.probabilities, atol=1e-3)  # the views differ
    np.testing.assert_allclose(both.ood_scores, 1.0 - expected.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(both.embeddings, (sharp.embeddings + smeared.embeddings) / 2, rtol=1e-4, atol=1e-6)
    assert both.labels == [classifier.manifest["classes"][i] for i in expected.argmax(axis=1)]
    alone = load_model(two_view_bundle, test_time_smear_px=[0.0]).predict(images, masks)  # views chosen at loading
    np.testing.assert_array_equal(alone.probabilities, sharp.probabilities)


def test_a_bundle_keeps_views_of_two_widths(two_view_bundle, tmp_path):
    model = load_model(two_view_bundle).model
    saved = save_bundle(model, tmp_path / "qy", temperature=0.02, ood=MaxSoftmaxOod(0.5), test_time_smear_px=[0.0, (1.0, 0.0)])
    assert json.loads((saved / "manifest.json").read_text())["test_time_smear_px"] == [0.0, [1.0, 0.0]]
    assert load_model(saved).test_time_smear_px == (0.0, (1.0, 0.0))


def test_a_bundle_naming_bad_views_is_refused(two_view_bundle, tmp_path):
    copy = shutil.copytree(two_view_bundle, tmp_path / "bad")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["test_time_smear_px"] = [0.0, -3.0]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"bad: test_time_smear_px must be widths in \[0, 10\] px, got \[0.0, -3.0\]"):
        load_model(copy)


def test_a_bundle_without_views_classifies_each_image_alone(two_view_bundle, tmp_path):
    copy = shutil.copytree(two_view_bundle, tmp_path / "old")
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["test_time_smear_px"]  # as in bundles written before the field existed
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert load_model(copy).test_time_smear_px == (0.0,)


def test_shipped_models_chosen_per_kind_of_frame_take_views_given_for_all_of_them():
    from xicam_gisaxs_cnn.models import ModelsByFrameKind

    assert ModelsByFrameKind()(True).test_time_smear_px == (0.0, (1.0, 0.0))  # the frames bundle's own
    assert ModelsByFrameKind()(False).test_time_smear_px == (0.0,)  # the default names none
    forced = ModelsByFrameKind([0.0])
    assert forced(True).test_time_smear_px == (0.0,) and forced(False).test_time_smear_px == (0.0,)
    with pytest.raises(ValueError, match="test_time_smear_px must be widths in"):
        ModelsByFrameKind([-1.0])


def test_live_commands_pass_their_views_to_the_model_they_use(untrained_bundle):
    from xicam_gisaxs_cnn.cli import build_parser
    from xicam_gisaxs_cnn.cli.live import live_classifier
    from xicam_gisaxs_cnn.live import LiveClassifier

    parser = build_parser()
    chosen_per_run = live_classifier(parser.parse_args(["live", "--test-time-smear", "0"]), lambda name, doc: None)
    given = live_classifier(parser.parse_args(["classify-run", "x", "--model", str(untrained_bundle),
                                               "--test-time-smear", "0", "2x0"]), lambda name, doc: None)
    try:
        assert chosen_per_run.model_for(True).test_time_smear_px == (0.0,)
        assert given.model_for(True).test_time_smear_px == (0.0, (2.0, 0.0))
    finally:
        chosen_per_run.close(timeout=10)
        given.close(timeout=10)
    with pytest.raises(ValueError, match="not both"):
        LiveClassifier(lambda name, doc: None, classifier=load_model(untrained_bundle), test_time_smear_px=[0.0])


@pytest.mark.parametrize("command", [["classify", "frame.tif"], ["live"], ["fit-ood-threshold", "--model", "frames"]])
def test_commands_name_a_view_written_wrong(command, capsys):
    from xicam_gisaxs_cnn.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--test-time-smear", "0", "1x"])
    assert "a test-time view is PX or QYxQZ (px along qy and qz, e.g. 1x0), got '1x'" in capsys.readouterr().err
