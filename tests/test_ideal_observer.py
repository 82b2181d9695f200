"""The ideal observer: the same frames as the evaluation, the Poisson likelihood, the photon limit, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats

from xicam_gisaxs_cnn.classes import CLASS_NAMES, class_index
from xicam_gisaxs_cnn.cli import main
from xicam_gisaxs_cnn.frames.classify import classify_frames
from xicam_gisaxs_cnn.frames.resample import resample, resampling_plan
from xicam_gisaxs_cnn.models import load_model
from xicam_gisaxs_cnn_trainer.realistic.evaluate import realistic_evaluation
from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig
from xicam_gisaxs_cnn_trainer.realistic.frames import SMALL_DETECTOR, count_photons, realistic_frame
from xicam_gisaxs_cnn_trainer.realistic.ideal_observer import (
    candidate_draws, candidate_intensities, canonical_scale, canonical_view, class_intensities, ideal_label,
    ideal_observer_evaluation, log_likelihoods, marginal_log_likelihoods, paired_table,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("kind, nn_distance_nm, seed", [("FCC111", 10.0, 5), ("HCP0001", 150.0, 7), ("SC110", 50.0, 11)])
def test_the_observer_sees_the_very_frame_the_evaluation_draws(kind, nn_distance_nm, seed):
    frame = realistic_frame(kind, nn_distance_nm=nn_distance_nm, seed=seed, layout=SMALL_DETECTOR)
    made = class_intensities(kind, nn_distance_nm=nn_distance_nm, seed=seed, layout=SMALL_DETECTOR)
    assert np.array_equal(made.frame.counts, frame.counts)
    assert made.frame.beam_stop_px == frame.beam_stop_px
    assert made.frame.film_parameters == frame.film_parameters
    assert made.frame.geometry == frame.geometry and made.frame.instrument == frame.instrument
    assert made.intensities.shape == (len(CLASS_NAMES), *SMALL_DETECTOR.shape)
    # the classes differ in the film only: the beamline's signals (direct beam, specular spot) are common
    others = np.delete(np.arange(len(CLASS_NAMES)), CLASS_NAMES.index(kind))
    assert all(not np.allclose(made.intensities[i], made.intensities[CLASS_NAMES.index(kind)]) for i in others)


def test_log_likelihoods_are_the_multinomial_over_live_pixels():
    counts = np.array([[3, 0, -1], [5, 2, -2]])
    intensities = np.array([[[1.0, 2.0, 9.0], [4.0, 1.0, 9.0]], [[2.0, 2.0, 1e-9], [1.0, 3.0, 5.0]]])
    live = counts >= 0
    expected = [scipy.stats.multinomial.logpmf(counts[live], counts[live].sum(), lam[live] / lam[live].sum())
                for lam in intensities]
    got = log_likelihoods(counts, intensities)
    # equal up to the multinomial coefficient, common to both classes
    assert got - got[0] == pytest.approx(np.array(expected) - expected[0], rel=1e-12)
    assert ideal_label(counts, intensities) == int(np.argmax(expected))


def test_marginal_log_likelihoods_average_the_likelihoods_over_candidates():
    counts = np.array([[3, 0, -1], [5, 2, 1]])
    rng = np.random.default_rng(4)
    candidates = rng.uniform(0.1, 5.0, size=(2, 3, *counts.shape))  # 2 classes, 3 lattice constants each
    live = counts >= 0
    likelihood = np.array([[scipy.stats.multinomial.pmf(counts[live], counts[live].sum(), lam[live] / lam[live].sum())
                            for lam in by_class] for by_class in candidates])
    got = marginal_log_likelihoods(counts, candidates)
    assert got - got[0] == pytest.approx(np.log(likelihood.mean(axis=1) / likelihood[0].mean()), rel=1e-10)
    # one candidate: the likelihood itself; the decision follows the mean, not the best candidate
    assert marginal_log_likelihoods(counts, candidates[:, :1]) == pytest.approx(log_likelihoods(counts, candidates[:, 0]))
    assert ideal_label(counts, candidates) == int(np.argmax(likelihood.mean(axis=1)))
    with pytest.raises(ValueError, match=r"candidate_intensities must be \(classes, candidates, rows, columns\)"):
        marginal_log_likelihoods(counts, candidates[0])


def test_candidate_lattice_constants_and_films_change_the_film_only():
    made = class_intensities("BCC110", nn_distance_nm=50.0, seed=3, layout=SMALL_DETECTOR)
    draws = candidate_draws(made.draw, lattice_constants_nm=(20.0, 50.0))
    assert draws[1] == made.draw and draws[0].fixed["nn_distance_nm"] == 20.0
    candidates = candidate_intensities(made, draws, layout=SMALL_DETECTOR)
    assert candidates.shape == (len(CLASS_NAMES), 2, *SMALL_DETECTOR.shape)
    assert np.array_equal(candidates[:, 1], made.intensities)
    # a 20 nm lattice puts its rods 2.5 times farther from the specular column than a 50 nm one
    from_specular = np.abs(np.arange(SMALL_DETECTOR.shape[1]) - made.frame.geometry.beam_centre_px[0])
    spread = (candidates.sum(axis=2) * from_specular).sum(axis=2) / candidates.sum(axis=(2, 3))
    assert (spread[:, 0] > 1.05 * spread[:, 1]).all()
    # films drawn afresh: new grains and disorder, the lattice constant and resolution kept; with both, every pairing
    films = candidate_draws(made.draw, film_samples=2, rng=np.random.default_rng(0))
    assert len(films) == 2 and all(f.fixed == made.draw.fixed and f.generator_seed != made.draw.generator_seed for f in films)
    fresh = [f.parameters(0, SimulationConfig())["repetitions_lateral"].item() for f in films]
    assert fresh != [made.draw.parameters(0, SimulationConfig())["repetitions_lateral"].item()] * 2
    both = candidate_draws(made.draw, lattice_constants_nm=(20.0, 50.0), film_samples=2, rng=np.random.default_rng(0))
    assert [(b.fixed["nn_distance_nm"], b.generator_seed) for b in both] == [
        (d, f.generator_seed) for d in (20.0, 50.0) for f in films]
    assert candidate_draws(made.draw) == [made.draw]
    with pytest.raises(ValueError, match="film_samples must be >= 0, with a generator"):
        candidate_draws(made.draw, film_samples=2)


def test_log_likelihoods_refuse_mismatched_or_impossible_intensities():
    counts = np.array([[1, 0], [0, 2]])
    with pytest.raises(ValueError, match=r"intensities must be \(classes, 2, 2\)"):
        log_likelihoods(counts, np.ones((7, 3, 2)))
    with pytest.raises(ValueError, match="> 0 where photons were counted"):
        log_likelihoods(counts, np.array([[[1.0, 1.0], [1.0, 0.0]]]))
    with pytest.raises(ValueError, match="superlattice class"):
        class_intensities("monolayer", nn_distance_nm=20.0, seed=1, layout=SMALL_DETECTOR)


def test_the_observer_is_right_with_many_photons_and_near_chance_with_almost_none():
    ideal = ideal_observer_evaluation(per_class=1, seed=700, layout=SMALL_DETECTOR, lattice_constants_nm=(20.0,),
                                      totals=(1.0, 1e6), draws=4)
    assert len(ideal["frames"]) == 7
    assert ideal["accuracy_at_totals"]["1e+06"] == 100.0
    # one photon: better than a guess (1 in 7) only as far as where it lands tells the class
    assert 10.0 < ideal["accuracy_at_totals"]["1"] < 60.0
    assert ideal["accuracy_vs_lattice_nm"]["20"]["frames"] == 7
    with pytest.raises(ValueError, match="per_class and draws must be >= 1"):
        ideal_observer_evaluation(per_class=1, seed=700, layout=SMALL_DETECTOR, draws=0)


def test_an_observer_not_told_the_lattice_constant_labels_the_same_frames(tmp_path, capsys):
    out = tmp_path / "unknown"
    assert main(["ideal-observer", "--per-class", "1", "--seed", "700", "--detector", "small", "--draws", "2",
                 "--totals", "1e6", "--lattice-constants", "20", "100", "--lattice-unknown", "--output", str(out)]) == 0
    unknown = json.loads((out / "ideal_observer.json").read_text())
    known = ideal_observer_evaluation(per_class=1, seed=700, layout=SMALL_DETECTOR, lattice_constants_nm=(20.0, 100.0),
                                      totals=(1e6,), draws=2)
    assert unknown["lattice_known"] is False and known["lattice_known"] is True
    assert [r["total_counts"] for r in unknown["frames"]] == [r["total_counts"] for r in known["frames"]]
    assert [r["label_told"] for r in unknown["frames"]] == [r["label"] for r in known["frames"]]
    assert unknown["accuracy_told"] == pytest.approx(known["accuracy"])
    assert len(unknown["frames"]) == 14 and unknown["accuracy_at_totals"]["1e+06"] >= 90.0
    text = (out / "ideal_observer.md").read_text()
    assert text.startswith("Ideal observer not told the lattice constant on 14")
    assert f"told all but the class: {known['accuracy']:.1f} %" in text
    assert "ideal observer not told the lattice constant:" in capsys.readouterr().out


def test_an_observer_not_told_the_film_averages_over_fresh_films(tmp_path, capsys):
    out = tmp_path / "film"
    assert main(["ideal-observer", "--per-class", "1", "--seed", "700", "--detector", "small", "--draws", "2",
                 "--totals", "1e6", "--lattice-constants", "20", "--film-unknown", "2", "--output", str(out)]) == 0
    film = json.loads((out / "ideal_observer.json").read_text())
    known = ideal_observer_evaluation(per_class=1, seed=700, layout=SMALL_DETECTOR, lattice_constants_nm=(20.0,),
                                      totals=(1e6,), draws=2)
    assert film["film_samples"] == 2 and film["lattice_known"] is True
    assert [r["label_told"] for r in film["frames"]] == [r["label"] for r in known["frames"]]
    # two films drawn from the prior stand in for the frame's own: still far better than a guess (1 in 7)
    assert film["accuracy_at_totals"]["1e+06"] >= 50.0
    assert (out / "ideal_observer.md").read_text().startswith(
        "Ideal observer not told the film (averaged over 2 film draws) on 7")
    assert "not told the film" in capsys.readouterr().out
    assert main(["ideal-observer", "--film-unknown", "-1", "--output", str(out / "no")]) == 2
    assert "film_samples must be >= 0" in capsys.readouterr().err and not (out / "no").exists()


def test_cli_sets_the_observer_beside_a_report_frame_for_frame(tmp_path, capsys, untrained_bundle):
    classifier = load_model(str(untrained_bundle))
    realistic = realistic_evaluation(classifier, tmp_path / "report", per_class=1, ood_per_kind=0, seed=900,
                                     layout=SMALL_DETECTOR)
    report = tmp_path / "report" / "metrics.json"
    report.write_text(json.dumps({"realistic": realistic}, default=str))
    out = tmp_path / "ideal"
    assert main(["ideal-observer", "--per-class", "1", "--seed", "900", "--detector", "small", "--draws", "1",
                 "--compare", str(report), "--output", str(out)]) == 0
    written = json.loads((out / "ideal_observer.json").read_text())
    assert [r["total_counts"] for r in written["frames"]] == [r["total_counts"] for r in realistic["frames"]]
    row = written["paired"]["table"]["every frame"]
    assert row["frames"] == 35 and row["model"] == pytest.approx(realistic["accuracy"])
    assert row["ideal_observer"] == pytest.approx(written["accuracy"]) and written["accuracy"] > 90.0
    assert "| every frame | 35 |" in (out / "ideal_observer.md").read_text()
    assert (out / "ideal_observer_vs_total_counts.png").stat().st_size > 10_000
    assert "ideal observer:" in capsys.readouterr().out


def test_cli_refuses_a_report_of_other_frames(tmp_path, capsys, untrained_bundle):
    classifier = load_model(str(untrained_bundle))
    realistic = realistic_evaluation(classifier, tmp_path, per_class=1, ood_per_kind=0, seed=901, layout=SMALL_DETECTOR,
                                     lattice_constants_nm=(20.0,))
    report = tmp_path / "metrics.json"
    report.write_text(json.dumps({"realistic": realistic}, default=str))
    out = tmp_path / "ideal"
    assert main(["ideal-observer", "--seed", "902", "--per-class", "1", "--detector", "small", "--compare", str(report),
                 "--output", str(out)]) == 2
    assert "give the same --seed, --per-class and --detector" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match="not of the ideal observer's frames"):
        paired_table({"frames": [{"kind": "SC100", "nn_distance_nm": 20.0, "total_counts": 5.0, "label": "SC100"}]},
                     realistic["frames"])
    assert main(["ideal-observer", "--seed", "901", "--per-class", "1", "--detector", "small", "--compare", str(report),
                 "--output", str(out)]) == 2
    assert "lattice constants (20.0,) nm; give the same --lattice-constants" in capsys.readouterr().err
    assert main(["ideal-observer", "--lattice-constants", "20", "20", "--output", str(out)]) == 2
    assert "lattice constants must be distinct and > 0 nm" in capsys.readouterr().err
    assert main(["ideal-observer", "--per-class", "0", "--output", str(out)]) == 2
    assert "per_class and draws must be >= 1" in capsys.readouterr().err and not out.exists()
    (tmp_path / "clean.json").write_text(json.dumps({"robust_model_test": {}}))
    assert main(["ideal-observer", "--compare", str(tmp_path / "clean.json"), "--output", str(out)]) == 2
    assert "holds no realistic frames" in capsys.readouterr().err


def test_the_canonical_view_holds_the_photons_of_the_image_the_model_sees():
    made = class_intensities("BCC110", nn_distance_nm=20.0, seed=31, layout=SMALL_DETECTOR)
    frame = made.frame
    where = dict(geometry=frame.geometry, beam_stop_px=frame.beam_stop_px, window_scale=1.0)
    plan = resampling_plan(frame.counts.shape, **where)
    counts, intensities = canonical_view(frame.counts, made.intensities, plan=plan, fold=False)
    _, ones = canonical_view(frame.counts, np.ones((1, *frame.counts.shape)), plan=plan, fold=False)
    image, mask = resample(frame.counts, **where)
    kept = counts >= 0
    assert intensities.shape == (7, 125, 125) and kept.sum() > 1000
    assert (ones[0][kept] >= 1).all() and not ones[0][~kept].any()  # intensity 1: each kept cell's live pixels
    # the model's image is the mean count over a cell's live pixels: the view's sum over their number
    assert np.allclose(counts[kept] / ones[0][kept], image[kept], rtol=1e-5)
    assert not (kept & ~mask).any() and 0 < counts[kept].sum() < frame.counts[frame.counts > 0].sum()
    folded, folded_intensities = canonical_view(frame.counts, made.intensities, plan=plan)
    assert folded.shape == (125, 63) and folded_intensities.shape == (7, 125, 63)
    assert folded[folded > 0].sum() == counts[kept].sum()
    assert np.allclose(folded_intensities[:, :, 10], intensities[:, :, 10] + intensities[:, :, 114])
    assert np.array_equal(folded[:, 62], counts[:, 62])  # qy = 0 mirrors itself


def test_the_canonical_scale_puts_a_lattice_in_the_middle_of_the_training_lattices():
    low, high = SimulationConfig().nn_distance_nm_range
    assert canonical_scale((low * high) ** 0.5) == 1.0
    assert canonical_scale(100.0) == pytest.approx(2 ** (18 / 8))  # 100 / 20.5 = 4.88, 2.25 octaves
    assert canonical_scale(10.0) == pytest.approx(2 ** (-8 / 8))


def test_the_observer_reading_the_model_input_and_the_model_meet_the_same_photons(untrained_bundle):
    classifier = load_model(str(untrained_bundle))
    ideal = ideal_observer_evaluation(per_class=1, seed=700, layout=SMALL_DETECTOR, lattice_constants_nm=(20.0,),
                                      totals=(3.0, 1e6), draws=2, reads="canonical", classifier=classifier)
    assert ideal["reads"] == "canonical" and ideal["model"] == classifier.name
    assert all(r["window_scale"] == 1.0 for r in ideal["frames"])
    assert ideal["accuracy_at_totals"]["1e+06"] == 100.0 and ideal["accuracy_at_totals"]["3"] < 100.0
    # the model's draws are the observer's: frame 0's first photons at 3, classified through the frame path
    made = class_intensities(CLASS_NAMES[0], nn_distance_nm=20.0, seed=700, layout=SMALL_DETECTOR)
    rng = np.random.default_rng([700, 0])
    first = [count_photons(made.intensities[0], layout=SMALL_DETECTOR, total_counts=3.0,
                           bad_pixel_fraction=made.frame.instrument.bad_pixel_fraction, rng=rng) for _ in range(2)]
    labels = [result.label for result in classify_frames(first, classifier=classifier, geometry=made.frame.geometry,
                                                        sources=["a", "b"], window_scale="ensemble",
                                                        beam_stop_px=made.frame.beam_stop_px)]
    assert ideal["frames"][0]["model_right_at_totals"][0] == sum(label == CLASS_NAMES[0] for label in labels)
    right = np.array([r["model_right_at_totals"] for r in ideal["frames"]])
    assert ideal["model_accuracy_at_totals"]["1e+06"] == pytest.approx(100 * right[:, 1].sum() / 14, abs=0.01)
    assert ideal["model_hcp_recall_at_totals"]["3"] == pytest.approx(
        50 * ideal["frames"][class_index("HCP0001")]["model_right_at_totals"][0], abs=0.01)
    with pytest.raises(ValueError, match="reads must be one of"):
        ideal_observer_evaluation(per_class=1, seed=700, layout=SMALL_DETECTOR, reads="pixels")


def test_cli_observer_reading_the_model_input_beside_a_model(tmp_path, capsys, untrained_bundle):
    out = tmp_path / "canonical"
    assert main(["ideal-observer", "--per-class", "1", "--seed", "700", "--detector", "small", "--draws", "1",
                 "--totals", "1e6", "--lattice-constants", "20", "--reads", "canonical",
                 "--model", str(untrained_bundle), "--output", str(out)]) == 0
    written = json.loads((out / "ideal_observer.json").read_text())
    assert written["reads"] == "canonical" and written["accuracy_at_totals"]["1e+06"] == 100.0
    text = (out / "ideal_observer.md").read_text()
    assert text.startswith("Ideal observer reading the model's input on 7")
    model = written["model"]
    assert f"| 1e+06 | 100.0 | 100.0 | {written['model_accuracy_at_totals']['1e+06']:.1f} |" in text
    assert f"`{model}` (%)" in text
    assert "ideal observer reading the model's input:" in capsys.readouterr().out
    assert main(["ideal-observer", "--reads", "pixels", "--output", str(tmp_path / "no")]) == 2
    assert "reads must be one of" in capsys.readouterr().err and not (tmp_path / "no").exists()
