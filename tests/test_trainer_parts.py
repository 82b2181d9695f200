"""Trainer building blocks: degradation specs, calibration, OOD statistics, evaluation metrics."""
import json

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn import degrade
from xicam_gisaxs_cnn.models import build_model, load_bundle, save_bundle
from xicam_gisaxs_cnn_trainer.calibration import fit_max_softmax_ood, fit_nearest_neighbour_ood, fit_temperature
from xicam_gisaxs_cnn_trainer.degradation import Degradation, MixtureRanges, log_uniform_sizes
from xicam_gisaxs_cnn_trainer.evaluation.metrics import (
    confusion_matrix, detection_rate_at_false_alarm, explained_variance_ratio, reliability,
)


def test_degradation_specs_parse_and_print_back():
    assert Degradation.parse("Gaussian:1.0") == Degradation("gaussian", 1.0)
    assert Degradation.parse("gaussian:1.0").spec == "gaussian:1"
    assert Degradation.parse("mixture").spec == "mixture"
    for bad, message in [("blur:1", "unknown degradation"), ("smear", "needs a level"), ("clean:1", "takes no level"),
                         ("smear:abc", "must be a number")]:
        with pytest.raises(ValueError, match=message):
            Degradation.parse(bad)


def test_dedicated_degradation_equals_the_plugin_function():
    image = np.random.default_rng(0).gamma(0.5, 1.0, (125, 125))
    batch = torch.from_numpy(image)[None, None]
    np.testing.assert_allclose(Degradation.parse("smear:1")(batch)[0, 0].numpy(), degrade.smear(image, 1.0), rtol=1e-10)
    np.testing.assert_allclose(Degradation.parse("rescale:25")(batch)[0, 0].numpy(), degrade.rescale(image, 25), rtol=1e-10)


def test_mixture_degrades_some_samples_and_leaves_shapes():
    images = torch.rand(64, 1, 125, 125, dtype=torch.float64)
    mixed = Degradation("mixture")(images, torch.Generator().manual_seed(0))
    changed = (mixed - images).abs().amax(dim=(1, 2, 3)) > 1e-12
    assert mixed.shape == images.shape and torch.isfinite(mixed).all()
    assert 40 <= int(changed.sum()) < 64  # about (1 - 0.5*0.6*0.5*0.5) = 92.5% touched


def test_mixture_draws_as_many_coarse_as_fine_resolutions():
    images = torch.rand(200, 1, 125, 125, dtype=torch.float64)
    ranges = MixtureRanges(smear_probability=0, rescale_probability=1, poisson_probability=0, gaussian_probability=0)
    mixed = Degradation("mixture", mixture=ranges)(images, torch.Generator().manual_seed(0))
    changed = (mixed - images).abs().amax(dim=(1, 2, 3)) > 1e-9
    assert float(changed.double().mean()) > 0.95  # every size but 125 (0.4% of draws) changes an image
    drawn = log_uniform_sizes(100_000, ranges.rescale_size, torch.Generator().manual_seed(1))
    assert int(drawn.min()) == 20 and int(drawn.max()) == 125
    coarse, fine = float((drawn <= 50).float().mean()), float((drawn > 50).float().mean())
    assert abs(coarse - fine) < 0.03  # log-uniform: 20-50 px as often as 50-125 px
    assert float((drawn <= 30).float().mean()) > 0.2  # a uniform draw would give 10%


def test_mixture_ranges_read_from_json_and_refuse_nonsense():
    ranges = MixtureRanges.from_dict({"rescale_probability": 0.7, "rescale_size": [20, 40]})
    assert ranges.rescale_probability == 0.7 and ranges.rescale_size == (20, 40) and ranges.smear_probability == 0.5
    assert MixtureRanges.from_dict(ranges.to_dict()) == ranges
    for bad, message in [({"rescale_prob": 0.7}, "unknown mixture keys.*rescale_prob"),
                         ({"gaussian_probability": 1.5}, "gaussian_probability must be between 0 and 1"),
                         ({"smear_sigma_px": [2, 1]}, "smear_sigma_px must be"),
                         ({"gaussian_alpha": 1.0}, "gaussian_alpha must be \\(low, high\\)"),
                         ({"rescale_size": [1, 125]}, "rescale_size must lie within 2..125")]:
        with pytest.raises(ValueError, match=message):
            MixtureRanges.from_dict(bad)


def test_temperature_fit_recovers_the_temperature_of_the_data():
    generator = torch.Generator().manual_seed(0)
    true_logits = 3.0 * torch.randn(4000, 7, generator=generator)
    labels = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=generator)[:, 0]
    assert fit_temperature(true_logits * 2.5, labels) == pytest.approx(2.5, rel=0.1)


def test_temperature_is_left_at_one_when_validation_has_no_error():
    labels = torch.arange(7).repeat(20)
    separated = torch.nn.functional.one_hot(labels, 7).float() * 3.0  # every sample right
    assert fit_temperature(separated, labels) == 1.0
    separated[0] = separated[0].roll(1)  # one error: the likelihood has a finite optimum again
    assert 0.05 < fit_temperature(separated, labels) != 1.0


def test_nearest_neighbour_ood_flags_five_percent_of_validation_and_far_points():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(7).repeat(300)
    centres = 10 * torch.randn(7, 16, generator=generator)
    train = centres[labels] + torch.randn(labels.numel(), 16, generator=generator)
    validation = centres[labels] + torch.randn(labels.numel(), 16, generator=generator)
    ood = fit_nearest_neighbour_ood(train, validation, k=2, max_references=1000)
    assert ood.references.shape == (1000, 16)
    np.testing.assert_allclose(ood.references.norm(dim=1).numpy(), 1.0, atol=1e-5)
    assert float((ood.score(validation) > ood.threshold).float().mean()) == pytest.approx(0.05, abs=0.005)
    between = (centres[0] + centres[1]) / 2 + torch.randn(100, 16, generator=generator)  # directions no class takes
    assert float((ood.score(between) > ood.threshold).float().mean()) > 0.9
    with pytest.raises(ValueError, match="k must be in 1..1000, got 0"):
        fit_nearest_neighbour_ood(train, validation, k=0, max_references=1000)


def test_max_softmax_ood_flags_five_percent_of_validation_and_uniform_outputs(tmp_path):
    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(7).repeat(400)
    logits = 4 * torch.nn.functional.one_hot(labels, 7).float() + torch.randn(labels.numel(), 7, generator=generator)
    ood = fit_max_softmax_ood(logits, temperature=1.5)
    scores = ood.score(torch.softmax(logits / 1.5, dim=1))
    assert float((scores > ood.threshold).float().mean()) == pytest.approx(0.05, abs=0.005)
    near_uniform = torch.softmax(0.3 * torch.randn(50, 7, generator=generator), dim=1)
    assert bool((ood.score(near_uniform) > ood.threshold).all())
    bundle = save_bundle(build_model("compact"), tmp_path / "b", ood=ood)  # no tensors stored, the threshold kept
    assert json.loads((bundle / "manifest.json").read_text())["ood"] == {"method": "max-softmax", "threshold": ood.threshold}
    assert load_bundle(bundle).ood == ood


def test_confusion_matrix_follows_the_paper_definition():
    labels = np.array([0, 0, 0, 0, 1, 1])
    predicted = np.array([0, 0, 0, 1, 1, 1])
    matrix = confusion_matrix(predicted, labels, num_classes=2)
    np.testing.assert_allclose(matrix, [[0.75, 0.0], [0.25, 1.0]])  # M_ij: true j predicted i; columns sum to 1


def test_explained_variance_ratio_of_data_on_a_line_is_one():
    t = np.linspace(-1, 1, 50)[:, None]
    _, evr = explained_variance_ratio(np.hstack([t, 2 * t, -t]))
    assert evr[0] == pytest.approx(1.0)


def test_expected_calibration_error_of_overconfident_predictions():
    probabilities = np.tile([0.9, 0.1], (100, 1))
    labels = np.r_[np.zeros(60, int), np.ones(40, int)]  # 60% right at 90% confidence
    assert reliability(probabilities, labels)["ece"] == pytest.approx(0.3)


def test_detection_rate_at_five_percent_false_alarms():
    inside = np.arange(100.0)
    result = detection_rate_at_false_alarm(inside, np.array([200.0, 50.0]))
    assert result["false_alarm"] == pytest.approx(0.05) and result["detection"] == 0.5


def test_a_gpu_simulates_each_training_batch_in_one_chunk(tmp_path):
    from xicam_gisaxs_cnn_trainer.train import simulation_config

    assert simulation_config(None, simulating_on=torch.device("cuda"), batch_size=256).chunk_size == 256
    assert simulation_config(None, simulating_on=torch.device("cpu"), batch_size=256).chunk_size == 32
    assert simulation_config(None, simulating_on=torch.device("cuda"), batch_size=16).chunk_size == 32
    path = tmp_path / "sim.json"
    path.write_text('{"chunk_size": 8}')
    assert simulation_config(str(path), simulating_on=torch.device("cuda"), batch_size=256).chunk_size == 8  # as asked


def test_settings_files_that_are_no_json_object_are_refused_by_name(tmp_path):
    from xicam_gisaxs_cnn_trainer.train import simulation_config

    path = tmp_path / "sim.json"
    for text, message in [('{"chunk_size": 8', "--sim-config .*sim.json: cannot read a JSON object"),
                          ("[8]", "--sim-config .*sim.json: expected a JSON object, got list"),
                          ('{"chunks": 8}', r"unknown SimulationConfig keys: \['chunks'\]")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            simulation_config(str(path), simulating_on=torch.device("cpu"), batch_size=64)
    with pytest.raises(ValueError, match="--sim-config .*missing.json: cannot read a JSON object"):
        simulation_config(str(tmp_path / "missing.json"), simulating_on=torch.device("cpu"), batch_size=64)
