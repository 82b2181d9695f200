"""Train a tiny model on on-the-fly simulations, find its bundle by name, resume, evaluate it."""
import json

import numpy as np
import pytest
import torch

from xicam_gisaxs_cnn.frames.fold import fold_qy
from xicam_gisaxs_cnn.models import list_models, load_model
from xicam_gisaxs_cnn_trainer.evaluation.report import markdown_report, run_evaluation
from xicam_gisaxs_cnn_trainer.degradation import Degradation
from xicam_gisaxs_cnn_trainer.realistic.randomise import Randomiser, simulate_scaled_batch
from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig
from xicam_gisaxs_cnn_trainer.train import (cpu_has_native_bfloat16, epochs_within_budget, folded, get_args_parser, main,
                                            mirrored, mixed_precision, prepared_inputs, refitted_schedule)

TINY = ["--arch", "compact", "--data", "simulate", "--batches-per-epoch", "2", "--validation-batches", "1",
        "--batch-size", "14", "--quiet", "--seed", "3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A compact model trained for two tiny epochs into a user model directory."""
    user_dir = tmp_path_factory.mktemp("user-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GISAXS_CNN_MODEL_DIR", str(user_dir))
        bundle = main(get_args_parser().parse_args([*TINY, "--epochs", "2", "--name", "tiny"]))
    return user_dir, bundle


def test_training_writes_a_bundle_the_plugin_finds_by_name(trained, monkeypatch):
    user_dir, bundle = trained
    monkeypatch.setenv("GISAXS_CNN_MODEL_DIR", str(user_dir))
    assert bundle == user_dir / "tiny" and list_models()["tiny"] == bundle
    classifier = load_model("tiny")
    manifest = classifier.manifest
    assert manifest["architecture"] == "compact" and manifest["training"]["degradation"] == "mixture"
    assert [entry["epoch"] for entry in manifest["training"]["log"]] == [0, 1]
    assert manifest["ood"]["method"] == "knn-cosine" and manifest["ood"]["references"] == 28  # 2 batches of 14
    assert manifest["temperature"] > 0
    prediction = classifier.predict(np.random.default_rng(0).random((3, 125, 125)))
    assert np.isfinite(prediction.ood_scores).all() and prediction.probabilities.shape == (3, 7)
    assert not (bundle / "checkpoint.pt").exists() and (user_dir / "tiny.checkpoints" / "checkpoint.pt").exists()


def test_resume_continues_from_the_checkpoint(trained, tmp_path):
    user_dir, _ = trained
    saved = torch.load(user_dir / "tiny.checkpoints" / "checkpoint.pt", weights_only=False)
    assert saved["epoch"] == 1 and "lr_scheduler" in saved and saved["args"]["arch"] == "compact"
    interrupted = tmp_path / "interrupted.pt"  # as if the run had stopped after its first epoch
    schedule = {**saved["lr_scheduler"], "last_epoch": 2, "_step_count": 3}  # 2 batches per epoch
    torch.save({**saved, "epoch": 0, "log": saved["log"][:1], "lr_scheduler": schedule}, interrupted)
    resumed = main(get_args_parser().parse_args([*TINY, "--epochs", "2", "--resume", str(interrupted),
                                                 "--output", str(tmp_path / "resumed")]))
    log = json.loads((resumed / "manifest.json").read_text())["training"]["log"]
    assert [entry["epoch"] for entry in log] == [0, 1] and log[0] == saved["log"][0]


def test_channels_last_changes_the_memory_order_not_the_training(trained, tmp_path):
    user_dir, bundle = trained
    reordered = main(get_args_parser().parse_args([*TINY, "--epochs", "2", "--channels-last", "--output", str(tmp_path / "cl")]))
    log = json.loads((reordered / "manifest.json").read_text())["training"]["log"]
    reference = json.loads((bundle / "manifest.json").read_text())["training"]["log"]
    assert [entry["train_loss"] for entry in log] == pytest.approx([entry["train_loss"] for entry in reference], rel=1e-3)
    images = np.random.default_rng(1).random((4, 125, 125))
    np.testing.assert_allclose(load_model(reordered).predict(images).probabilities,
                               load_model(bundle).predict(images).probabilities, atol=1e-3)
    mixed = main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--channels-last", "--amp", "--device", "cpu",
                                               "--output", str(tmp_path / "bf16")]))
    manifest = json.loads((mixed / "manifest.json").read_text())
    assert manifest["training"]["args"]["amp"] is True and manifest["training"]["args"]["channels_last"] is True
    assert manifest["training"]["amp"] is cpu_has_native_bfloat16()  # bfloat16 only where this CPU runs it natively
    assert np.isfinite(load_model(mixed).predict(images).probabilities).all()


def test_amp_trains_in_float32_on_a_cpu_without_native_bfloat16(capsys):
    cpu = torch.device("cpu")
    assert mixed_precision(cpu, True, native_bfloat16=True) is True
    assert capsys.readouterr().err == ""
    assert mixed_precision(cpu, True, native_bfloat16=False) is False
    assert "--amp ignored: this CPU has no native bfloat16" in capsys.readouterr().err
    assert mixed_precision(torch.device("cuda"), True, native_bfloat16=False) is True  # float16 there
    assert mixed_precision(cpu, False, native_bfloat16=True) is False


def test_mixture_ranges_train_and_are_recorded_in_the_manifest(tmp_path):
    ranges = tmp_path / "heavy-low-resolution.json"
    ranges.write_text(json.dumps({"rescale_probability": 0.9, "rescale_size": [20, 30]}))
    bundle = main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--mixture", str(ranges), "--output", str(tmp_path / "b")]))
    training = json.loads((bundle / "manifest.json").read_text())["training"]
    assert training["degradation"] == "mixture" and training["args"]["mixture"] == str(ranges)
    assert training["mixture"]["rescale_probability"] == 0.9 and training["mixture"]["rescale_size"] == [20, 30]
    assert training["mixture"]["gaussian_alpha"] == [0.0, 1.5]  # the keys not given keep their defaults
    with pytest.raises(ValueError, match="--mixture sets the ranges of --degradation mixture, not of 'clean'"):
        main(get_args_parser().parse_args([*TINY, "--degradation", "clean", "--mixture", str(ranges), "--output", str(tmp_path / "c")]))
    ranges.write_text("{rescale_probability: 0.9")
    with pytest.raises(ValueError, match="--mixture .*heavy-low-resolution.json: cannot read a JSON object"):
        main(get_args_parser().parse_args([*TINY, "--mixture", str(ranges), "--output", str(tmp_path / "d")]))


def test_resume_with_other_epochs_is_refused_and_names_init(trained, tmp_path):
    user_dir, _ = trained
    checkpoint = user_dir / "tiny.checkpoints" / "checkpoint.pt"
    with pytest.raises(ValueError, match="schedule of 2 epochs.*--epochs 3.*--init"):
        main(get_args_parser().parse_args([*TINY, "--epochs", "3", "--resume", str(checkpoint), "--output", str(tmp_path / "x")]))


def test_init_fine_tunes_a_bundle_with_a_fresh_schedule(trained, tmp_path):
    _, bundle = trained
    tuned = main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--init", str(bundle), "--output", str(tmp_path / "tuned")]))
    manifest = json.loads((tuned / "manifest.json").read_text())
    assert manifest["training"]["args"]["init"] == str(bundle) and len(manifest["training"]["log"]) == 1
    initial = json.loads((bundle / "manifest.json").read_text())
    assert manifest["training"]["init"] == {"name": "tiny", "sha256": initial["sha256"], "training": initial["training"]}
    before = dict(load_model(bundle).model.named_parameters())
    after = dict(load_model(tuned).model.named_parameters())
    change = max(float((before[key] - after[key]).detach().abs().max()) for key in before)
    assert 0 < change < 0.02  # two AdamW steps of lr <= 3e-3 away from the bundle's weights, not a fresh draw
    with pytest.raises(ValueError, match="holds a compact model, but --arch is alexnet"):
        main(get_args_parser().parse_args([*TINY, "--arch", "alexnet", "--epochs", "1", "--init", str(bundle),
                                           "--output", str(tmp_path / "wrong")]))


def test_init_with_widen_grows_the_bundle_and_records_the_width(trained, tmp_path):
    _, bundle = trained
    wide = main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--init", str(bundle), "--widen", "32",
                                              "--output", str(tmp_path / "wide")]))
    manifest = json.loads((wide / "manifest.json").read_text())
    assert manifest["architecture_kwargs"] == {"width": 32} and manifest["training"]["args"]["widen"] == 32
    classifier = load_model(wide)
    assert classifier.model.backbone[1][0].out_channels == 32
    assert classifier.predict(torch.rand(2, 125, 125).numpy()).probabilities.shape == (2, 7)
    with pytest.raises(ValueError, match="--widen grows a trained model: give the bundle to start from with --init"):
        main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--widen", "32", "--output", str(tmp_path / "x")]))


def test_mirroring_flips_about_half_the_batch_about_qy_zero():
    images = torch.rand(400, 1, 125, 125)
    masks = images > 0.5
    flipped, flipped_masks = mirrored(images, masks, torch.Generator().manual_seed(0))
    same = (flipped == images).flatten(1).all(1)
    mirror = (flipped == images.flip(-1)).flatten(1).all(1)
    assert bool((same ^ mirror).all()) and 160 < int(mirror.sum()) < 240
    assert torch.equal(flipped_masks, flipped > 0.5)


@pytest.fixture(scope="module")
def evaluation(trained, tmp_path_factory):
    """The tiny model's evaluation report folder and metrics."""
    _, bundle = trained
    folder = tmp_path_factory.mktemp("evaluation") / "report"
    return folder, run_evaluation(load_model(bundle), folder, per_class=3, seed=5, repetition_per_class=1, ood_count=4)


def test_evaluation_writes_every_table_and_figure(evaluation):
    folder, metrics = evaluation
    for name in ("metrics.json", "report.md", "confusion_matrix.png", "pca.png", "reliability.png",
                 "accuracy_vs_repetitions.png"):
        assert (folder / name).stat().st_size > 0
    matrix = np.array(metrics["confusion_matrix"])
    np.testing.assert_allclose(matrix.sum(axis=0), 1.0, atol=1e-3)
    assert set(metrics["robust_model_test"]) >= {"clean", "gaussian:1", "rescale:25", "poisson:100000"}
    assert all(0 <= value <= 100 for value in metrics["robust_model_test"].values())
    assert set(metrics["robust_model_train"]) == set(metrics["robust_model_test"])  # the training stream, re-simulated
    assert list(metrics["accuracy_vs_repetitions"]) == ["1", "2", "5", "10", "20", "50", "100", "200"]
    assert set(metrics["ood"]) == {"disordered", "empty", "noise", "ring"}
    by_lattice = metrics["resolution_vs_lattice_nm"]  # Table III split by nearest-neighbour distance
    edges, patterns = by_lattice["edges_nm"], by_lattice["patterns"]
    assert len(edges) == 6 and edges == sorted(edges) and sum(patterns) == 21
    assert list(by_lattice["accuracy"]) == ["clean", "rescale:100", "rescale:75", "rescale:50", "rescale:25"]
    for spec, values in by_lattice["accuracy"].items():  # the bins, weighted by their patterns, give Table III
        weighted = sum(value * count for value, count in zip(values, patterns) if value is not None) / sum(patterns)
        assert weighted == pytest.approx(metrics["robust_model_test"][spec], abs=0.02)
        assert all((value is None) == (count == 0) for value, count in zip(values, patterns))
    report = (folder / "report.md").read_text()
    assert f"| patterns | {' | '.join(map(str, patterns))} |" in report
    assert f"| {edges[0]:.1f}-{edges[1]:.1f} nm |" in report
    assert "| gaussian:1 |" in report
    assert metrics["training_degradation"] == "mixture" and "| degradation | ours: one robust model (test) |" in report


def test_report_names_the_test_time_views_of_a_model_that_has_them(evaluation):
    _, metrics = evaluation
    assert metrics["test_time_smear_px"] == [0.0]  # the tiny bundle names none
    assert "test-time views" not in markdown_report(metrics)
    report = markdown_report({**metrics, "test_time_smear_px": [0.0, 1.0]})
    assert f"sha256 `{metrics['sha256']}`; test-time views 0, 1 px; 3 held-out simulated patterns per class" in report
    assert metrics["precision"] == "float32" and "int8" not in markdown_report(metrics)  # the tiny bundle is not calibrated
    report = markdown_report({**metrics, "test_time_smear_px": [0.0, 1.0], "precision": "int8"})
    assert f"sha256 `{metrics['sha256']}`; test-time views 0, 1 px; int8 convolutions; 3 held-out simulated" in report


@pytest.mark.parametrize("trained_on, named", [("clean", "trained clean"), ("gaussian:1", "trained on gaussian:1")])
def test_report_names_a_model_trained_on_one_degradation_by_it(evaluation, trained_on, named):
    _, metrics = evaluation
    report = markdown_report({**metrics, "training_degradation": trained_on})
    for header in (f"| degradation | ours: `{metrics['model']}`, {named} (test) |",
                   f"| degradation | ours: `{metrics['model']}`, {named} | ours: dedicated model | paper |",
                   f"| ours: `{metrics['model']}`, {named} | paper (trained clean) |"):
        assert header in report
    assert "one robust model" not in report


def test_evaluation_names_dedicated_models_and_puts_the_clean_one_beside_the_robust_one(trained, tmp_path):
    _, bundle = trained
    robust, shipped = load_model(bundle), load_model("default")
    metrics = run_evaluation(robust, tmp_path / "report", per_class=2, seed=5, repetition_per_class=1, ood_count=4,
                             dedicated={"gaussian:1": shipped}, clean_model=shipped)
    assert metrics["dedicated_models"] == {"gaussian:1": {"name": "default", "sha256": shipped.sha256}}
    assert 0 <= metrics["dedicated_models_test"]["gaussian:1"] <= 100 and metrics["cross_noise"]["model"] == "default"
    report = (tmp_path / "report" / "report.md").read_text()
    assert f"gaussian:1 `default` ({shipped.sha256[:12]})" in report
    cross = report.split("## Cross-noise")[1]
    robust_gaussian = metrics["robust_model_test"]["gaussian:1"]
    assert f"| gaussian:1 | {metrics['cross_noise']['gaussian:1']:.2f} | {robust_gaussian:.2f} | 62.37 |" in cross

    # a new model's report takes those figures from this one's, on the same test set only
    again = run_evaluation(shipped, tmp_path / "again", per_class=2, seed=5, repetition_per_class=1, ood_count=4,
                           baselines_from=tmp_path / "report" / "metrics.json")
    assert again["dedicated_models_test"] == metrics["dedicated_models_test"]
    assert again["cross_noise"] == metrics["cross_noise"] and again["model"] == "default"
    assert again["baselines_from"] == {"report": str(tmp_path / "report" / "metrics.json"), "model": robust.name,
                                       "sha256": robust.sha256}
    assert f"taken from the report of `{robust.name}`" in (tmp_path / "again" / "report.md").read_text()
    with pytest.raises(ValueError, match="measured on another test set: its seed is 5, this evaluation's is 6"):
        run_evaluation(shipped, tmp_path / "other", per_class=2, seed=6, baselines_from=tmp_path / "report" / "metrics.json")
    with pytest.raises(ValueError, match="not both"):
        run_evaluation(shipped, tmp_path / "other", per_class=2, seed=5, clean_model=shipped,
                       baselines_from=tmp_path / "report" / "metrics.json")


def test_epochs_within_budget_keep_the_calibration_pass_inside_it():
    # 3 epochs took 30 s: 10 s each; 95 s hold 9 epochs, one of them kept for calibration
    assert epochs_within_budget(planned=50, done=3, seconds=30.0, budget_s=95.0) == 8
    assert epochs_within_budget(planned=5, done=3, seconds=30.0, budget_s=95.0) == 5  # never more than planned
    assert epochs_within_budget(planned=50, done=3, seconds=30.0, budget_s=10.0) == 3  # never fewer than done


def test_refitted_schedule_continues_the_steps_taken_and_anneals_by_the_new_end():
    weights = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([weights], lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=100, pct_start=0.15)
    for _ in range(20):
        optimizer.step()
        schedule.step()
    schedule = refitted_schedule(optimizer, schedule, max_lr=1e-3, total_steps=40)
    assert schedule.last_epoch == 20 and schedule.total_steps == 40
    rates = []
    for _ in range(19):
        optimizer.step()
        schedule.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert all(later < earlier for earlier, later in zip(rates, rates[1:]))  # annealing, past the peak of step 15
    assert rates[-1] < 1e-6  # at the new end, not half-way down the old one


def test_time_budget_cuts_the_epochs_and_still_writes_a_calibrated_bundle(tmp_path):
    bundle = main(get_args_parser().parse_args([*TINY, "--epochs", "500", "--time-budget", "0.05",
                                                "--output", str(tmp_path / "budget")]))
    manifest = json.loads((bundle / "manifest.json").read_text())
    training = manifest["training"]
    assert 1 <= training["epochs_trained"] == len(training["log"]) < 500
    assert training["seconds"] < 3 * 60 * 0.05 + 30 and manifest["temperature"] > 0
    with pytest.raises(ValueError, match="--time-budget must be a positive number of minutes"):
        main(get_args_parser().parse_args([*TINY, "--time-budget", "0", "--output", str(tmp_path / "x")]))


def test_unknown_data_spec_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown data spec 'cloud:x'"):
        main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--data", "cloud:x", "--output", str(tmp_path / "x")]))


@pytest.mark.parametrize("fold", [False, True])
def test_scaled_simulation_with_domain_randomisation_trains(tmp_path, fold):
    ranges = tmp_path / "low-counts.json"
    ranges.write_text(json.dumps({"counts_probability": 1.0, "log10_counts": [2.0, 3.0]}))
    args = [*TINY, "--epochs", "1", "--data", "simulate-scaled", "--randomise", "--output", str(tmp_path / "r")]
    bundle = main(get_args_parser().parse_args(args + ["--fold"] * fold + ["--randomise-ranges", str(ranges)] * fold))
    training = json.loads((bundle / "manifest.json").read_text())["training"]
    assert training["randomise"] is True and training["data"]["source"] == "simulate-scaled"
    assert training["fold"] is fold and training["args"]["fold"] is fold
    assert len(training["log"]) == 1 and 0 <= training["log"][0]["validation_accuracy"] <= 1
    assert training["randomisation"]["log10_counts"] == ([2.0, 3.0] if fold else [2.0, 7.0])
    assert training["randomisation"]["counts_probability"] == (1.0 if fold else 0.9)
    assert training["randomisation"]["gap_probability"] == 0.7  # the keys the file leaves out keep their defaults


def test_randomise_ranges_are_refused_without_randomise_or_with_unknown_keys(tmp_path):
    ranges = tmp_path / "ranges.json"
    ranges.write_text(json.dumps({"log10_counts": [2.0, 3.0]}))
    with pytest.raises(ValueError, match="--randomise-ranges sets the ranges of --randomise; give --randomise too"):
        main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--randomise-ranges", str(ranges),
                                           "--output", str(tmp_path / "x")]))
    ranges.write_text(json.dumps({"counts": [2.0, 3.0]}))
    with pytest.raises(ValueError, match=r"unknown randomisation keys: \['counts'\]"):
        main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--data", "simulate-scaled", "--randomise",
                                           "--randomise-ranges", str(ranges), "--output", str(tmp_path / "y")]))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_folded_batch_is_fold_qy_of_each_image():
    images = torch.rand(3, 1, 125, 125, dtype=torch.float64) * 100
    masks = torch.rand(3, 1, 125, 125) > 0.3
    image, mask = folded(images, masks)
    expected_image, expected_mask = fold_qy(images[:, 0].numpy(), masks[:, 0].numpy())
    assert image.dtype == torch.float64 and mask.dtype == torch.bool and image.shape == (3, 1, 125, 125)
    np.testing.assert_allclose(image[:, 0].numpy(), expected_image, rtol=1e-6)
    assert np.array_equal(mask[:, 0].numpy(), expected_mask)


def test_fold_makes_the_randomised_training_input_even_in_qy():
    """With --fold the model sees what the frame path gives it: every input channel is its own mirror image."""
    batch = simulate_scaled_batch(torch.arange(4), config=SimulationConfig(grains=1), generator=torch.Generator().manual_seed(2))
    inputs = {fold: prepared_inputs(batch, Degradation.parse("mixture"), Randomiser(), torch.Generator().manual_seed(4),
                                    mirror=True, fold=fold) for fold in (False, True)}
    assert inputs[True].shape == (4, 3, 125, 125)
    assert torch.allclose(inputs[True], inputs[True].flip(-1), atol=1e-5)
    assert (inputs[False] - inputs[False].flip(-1)).abs().amax() > 0.1


def test_fold_without_randomise_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--fold .* needs --randomise"):
        main(get_args_parser().parse_args([*TINY, "--epochs", "1", "--fold", "--output", str(tmp_path / "x")]))
