"""Window-scale choice from the frame: rods found where 2 pi / d puts them, large lattices zoomed into the training range."""
from __future__ import annotations

import math

import numpy as np
import pytest

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.frames import DetectorGeometry, classify_frames, resample
from xicam_gisaxs_cnn.frames.fold import fold_qy
from xicam_gisaxs_cnn.frames.scale import (
    LADDER_CANDIDATES, REFERENCE_PEAK_NM, SCALE_RANGE, choose_window_scale, first_peak_qy_nm, quantise_scale,
    scale_by_confidence, scale_by_ensemble, scale_from_peaks, scale_ladder, tempered,
)
from xicam_gisaxs_cnn.models import load_model
from xicam_gisaxs_cnn_trainer.realistic.evaluate import markdown_tables, realistic_evaluation
from xicam_gisaxs_cnn_trainer.realistic.frames import SMALL_DETECTOR, Instrument, realistic_frame

ALIGNED = {"in_plane_angle_deg": 0.0, "mosaic_spread_deg": 0.0, "repetitions_lateral": 40.0}
TRAINING_NN_RANGE_NM = (12.0, 35.0)  # SimulationConfig's default nn_distance_nm_range


def _geometry(distance_mm: float) -> DetectorGeometry:
    return DetectorGeometry(energy_kev=13.5, distance_mm=distance_mm, pixel_size_mm=(0.172, 0.172),
                            beam_centre_px=(120.0, 235.0), incidence_angle_deg=0.12)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_quantised_scales_lie_on_the_ladder_within_five_percent():
    assert quantise_scale(1.0) == 1.0 and quantise_scale(4.0) == 4.0
    for scale in (0.3, 0.77, 1.3, 5.1, 9.99):
        assert abs(quantise_scale(scale) / scale - 1) <= 2 ** (1 / 16) - 1 + 1e-12
        assert np.isclose(scale_ladder(), quantise_scale(scale)).any()
    assert quantise_scale(1e3) == SCALE_RANGE[1] and quantise_scale(1e-3) == SCALE_RANGE[0]
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        quantise_scale(-1)


def test_first_peak_of_a_profile_is_the_lowest_prominent_rod():
    qy = np.geomspace(0.01, 1.0, 321)
    background = 1e3 * qy**-2
    rods = 3.0 * np.exp(-0.5 * ((qy - 0.05) / 0.002) ** 2) + 5.0 * np.exp(-0.5 * ((qy - 0.1) / 0.003) ** 2)
    profile = background * (1 + rods)
    assert first_peak_qy_nm(qy, profile) == pytest.approx(0.05, rel=0.02)
    assert math.isnan(first_peak_qy_nm(qy, background))


@pytest.mark.parametrize("nn_distance_nm, distance_mm", [(20.0, 1500.0), (100.0, 5000.0), (150.0, 8000.0)])
def test_scale_puts_the_first_rods_where_a_training_lattice_has_them(nn_distance_nm, distance_mm):
    frame = realistic_frame("SC100", nn_distance_nm=nn_distance_nm, seed=3, layout=SMALL_DETECTOR,
                            geometry=_geometry(distance_mm), overrides=ALIGNED,
                            instrument=Instrument(total_counts=1e7, beam_stop_width_px=16))
    choice = scale_from_peaks(frame.counts, geometry=frame.geometry, beam_stop_px=frame.beam_stop_px)
    assert choice.method == "peaks"
    first_rod = 2 * math.pi / nn_distance_nm  # SC100 aligned with the beam
    assert choice.peak_qy_nm == pytest.approx(first_rod, rel=0.05)
    assert choice.window_scale == pytest.approx(REFERENCE_PEAK_NM / first_rod, rel=0.1)
    # on the zoomed grid the lattice looks like one of the training lattices (12-35 nm)
    canonical_nn = nn_distance_nm / choice.window_scale
    assert TRAINING_NN_RANGE_NM[0] <= canonical_nn <= TRAINING_NN_RANGE_NM[1]
    if nn_distance_nm == 100.0:
        assert 5.0 <= choice.window_scale <= 7.5  # the 100 nm rods (0.063 nm^-1) move out to 0.35-0.45 nm^-1


def test_choose_window_scale_forces_numbers_and_refuses_nonsense():
    frame = np.ones(SMALL_DETECTOR.shape)
    assert choose_window_scale(frame, geometry=_geometry(3000.0), window_scale=2.5).method == "forced"
    assert choose_window_scale(np.ones((125, 125)), geometry=None, window_scale="auto").window_scale == 1.0
    with pytest.raises(ValueError, match=r"window_scale must be a number > 0 or one of \('auto', 'confidence', 'ensemble'\), got 'big'"):
        choose_window_scale(frame, geometry=_geometry(3000.0), window_scale="big")
    with pytest.raises(ValueError, match=r"window_scale must be a number > 0 or one of .*, got -2"):
        choose_window_scale(frame, geometry=_geometry(3000.0), window_scale=-2)
    with pytest.raises(ValueError, match="window_scale='confidence' needs the classifier"):
        choose_window_scale(frame, geometry=_geometry(3000.0), window_scale="confidence")


def test_auto_scale_is_recorded_in_every_result(untrained_bundle):
    geometry = _geometry(5000.0)
    frame = realistic_frame("SC100", nn_distance_nm=100.0, seed=3, layout=SMALL_DETECTOR, geometry=geometry,
                            overrides=ALIGNED, instrument=Instrument(total_counts=1e7, beam_stop_width_px=16))
    classifier = load_model(untrained_bundle)
    bad = np.full(SMALL_DETECTOR.shape, np.nan)
    results = classify_frames([frame.counts, bad, frame.counts], classifier=classifier, geometry=geometry,
                              sources=["a", "b", "c"], window_scale="auto", beam_stop_px=frame.beam_stop_px)
    expected = scale_from_peaks(frame.counts, geometry=geometry, beam_stop_px=frame.beam_stop_px).window_scale
    assert [r.window_scale for r in (results[0], results[2])] == [expected, expected] and expected > 4
    assert results[0].label in CLASS_NAMES and not results[0].error
    assert results[1].error and results[1].to_record()["window_scale"] in (None, 1.0)


def test_scale_by_confidence_keeps_the_candidate_of_lowest_ood_score(untrained_bundle):
    geometry = _geometry(5000.0)
    frame = realistic_frame("FCC111", nn_distance_nm=100.0, seed=5, layout=SMALL_DETECTOR, geometry=geometry)
    classifier = load_model()  # the shipped default: real OOD scores
    candidates = [2.0, 4.0, 6.0]
    choice = scale_by_confidence(frame.counts, geometry=geometry, classifier=classifier, candidates=candidates,
                                 beam_stop_px=frame.beam_stop_px)
    pairs = [resample(frame.counts, geometry=geometry, window_scale=s, beam_stop_px=frame.beam_stop_px) for s in candidates]
    scores = classifier.predict(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])).ood_scores
    assert np.isfinite(scores).all() and len(set(scores.tolist())) == 3
    assert choice.method == "confidence" and choice.window_scale == candidates[int(np.argmin(scores))]
    with pytest.raises(ValueError, match="needs a model with OOD statistics"):
        scale_by_confidence(frame.counts, geometry=geometry, classifier=load_model(untrained_bundle), candidates=candidates)


def test_realistic_evaluation_reports_accuracy_tables_and_writes_plots(tmp_path, untrained_bundle):
    metrics = realistic_evaluation(load_model(untrained_bundle), tmp_path, per_class=1, ood_per_kind=1, seed=11,
                                   layout=SMALL_DETECTOR, lattice_constants_nm=(20.0, 100.0), window_scale="ensemble")
    assert len(metrics["frames"]) == 2 * len(CLASS_NAMES) + 3
    assert metrics["errors"] < len(metrics["frames"])  # an untrained bundle has no OOD statistics: "ensemble" still runs
    answered = [r for r in metrics["frames"] if not r["error"]]
    assert answered and all(np.isnan(r["ood_score"]) for r in answered)  # no statistics: no score, no flag
    assert 0.0 <= metrics["accuracy"] <= 100.0
    assert set(metrics["accuracy_vs_lattice_nm"]) == {"20", "100"}
    assert sum(row["frames"] for row in metrics["accuracy_vs_lattice_nm"].values()) == 2 * len(CLASS_NAMES)
    assert sum(row["frames"] for row in metrics["accuracy_vs_total_counts"].values()) == 2 * len(CLASS_NAMES)
    matrix = np.asarray(metrics["confusion_matrix"])
    assert matrix.shape == (7, 7) and np.all((matrix >= 0) & (matrix <= 1))
    assert 0.0 <= metrics["hcp_recall"] <= 1.0
    assert set(metrics["ood"]) == {"disordered", "empty", "monolayer"}
    assert all(0.0 <= value["detection"] <= 1.0 for value in metrics["ood"].values())
    assert {r["file"].rsplit(".", 1)[1] for r in metrics["frames"]} == {"tif", "edf", "cbf", "h5"}
    for name in metrics["plots"]:
        assert (tmp_path / name).stat().st_size > 1000
    assert "| 100 |" in markdown_tables(metrics)


def test_confidence_scale_is_chosen_per_frame_by_classify_frames():
    """``window_scale="confidence"``: each result carries the scale scale_by_confidence picks for its frame."""
    geometry = _geometry(5000.0)
    frames = [realistic_frame(kind, nn_distance_nm=d, seed=7, layout=SMALL_DETECTOR, geometry=geometry).counts
              for kind, d in (("FCC111", 100.0), ("SC100", 30.0))]
    classifier = load_model()  # the shipped default: real OOD scores
    results = classify_frames(frames, classifier=classifier, geometry=geometry, sources=["a", "b"],
                              window_scale="confidence")
    expected = [scale_by_confidence(f, geometry=geometry, classifier=classifier).window_scale for f in frames]
    assert [r.window_scale for r in results] == expected
    assert all(r.label in CLASS_NAMES and not r.error for r in results)



def test_ensemble_averages_the_class_probabilities_over_the_ladder():
    """``window_scale="ensemble"``: mean probabilities and mean OOD score over the ladder scales with data; the
    recorded scale is where that class is most probable; ``"confidence"`` reports the prediction at its own scale,
    not a second one."""
    geometry = _geometry(5000.0)
    frame = realistic_frame("BCC110", nn_distance_nm=60.0, seed=9, layout=SMALL_DETECTOR, geometry=geometry)
    classifier = load_model()  # the shipped default: real OOD scores
    pairs = {float(s): fold_qy(*resample(frame.counts, geometry=geometry, window_scale=float(s)))
             for s in LADDER_CANDIDATES}
    kept = [s for s, (_, mask) in pairs.items() if mask.mean() >= 0.05]
    assert 3 <= len(kept) < len(LADDER_CANDIDATES)  # the small detector loses the widest windows
    each = classifier.predict(np.stack([pairs[s][0] for s in kept]), np.stack([pairs[s][1] for s in kept]))
    ensemble, broken = classify_frames([frame.counts, np.ones((3, 3))], classifier=classifier, geometry=geometry,
                                       sources=["e", "x"], window_scale="ensemble")
    mean = each.probabilities.mean(axis=0)
    np.testing.assert_allclose(ensemble.probabilities, mean, rtol=1e-6)
    assert ensemble.label == CLASS_NAMES[int(np.argmax(mean))] and ensemble.folded
    row = int(np.argmax(each.probabilities[:, int(np.argmax(mean))]))
    assert ensemble.window_scale == kept[row]
    assert ensemble.ood_score == pytest.approx(float(each.ood_scores.mean()), rel=1e-5)
    assert ensemble.ood_score != pytest.approx(float(each.ood_scores[row]), rel=1e-3)
    assert ensemble.ood_flag == (ensemble.ood_score > classifier.ood_threshold)
    assert ensemble.valid_fraction == pytest.approx(float(pairs[kept[row]][1].mean()))
    assert scale_by_ensemble(frame.counts, geometry=geometry, classifier=classifier).window_scale == kept[row]
    [confident] = classify_frames([frame.counts], classifier=classifier, geometry=geometry, sources=["c"],
                                  window_scale="confidence")
    best = int(np.argmin(each.ood_scores))
    assert confident.window_scale == kept[best] and confident.ood_score == pytest.approx(float(each.ood_scores[best]), rel=1e-5)
    np.testing.assert_allclose(confident.probabilities, each.probabilities[best], rtol=1e-6)
    assert "lies off the detector" in broken.error and not broken.label
    classifier.ensemble_temperature = 0.25  # sharpens the ensemble's probabilities only
    [sharp] = classify_frames([frame.counts], classifier=classifier, geometry=geometry, sources=["e"], window_scale="ensemble")
    np.testing.assert_allclose(sharp.probabilities, mean ** 4 / np.sum(mean ** 4), rtol=1e-5)
    assert sharp.probabilities.max() > ensemble.probabilities.max() and sharp.label == ensemble.label
    assert (sharp.ood_score, sharp.window_scale) == (ensemble.ood_score, ensemble.window_scale)
    [confident_again] = classify_frames([frame.counts], classifier=classifier, geometry=geometry, sources=["c"],
                                        window_scale="confidence")
    np.testing.assert_array_equal(confident_again.probabilities, confident.probabilities)


def test_tempered_probabilities_keep_their_order_and_sum():
    probabilities = np.array([[0.4, 0.3, 0.1, 0.1, 0.05, 0.05, 0.0], [1 / 7] * 7])
    np.testing.assert_array_equal(tempered(probabilities, 1.0), probabilities)
    sharp, flat = tempered(probabilities, 0.2), tempered(probabilities, 5.0)
    np.testing.assert_allclose(sharp.sum(axis=1), 1.0)
    np.testing.assert_allclose(flat.sum(axis=1), 1.0)
    np.testing.assert_allclose(sharp[0, :2], np.array([0.4, 0.3]) ** 5 / np.sum(probabilities[0] ** 5), rtol=1e-12)
    assert sharp[0, 0] > 0.8 > 0.4 > flat[0, 0] > 1 / 7 and sharp[0, 6] == 0.0
    np.testing.assert_allclose(np.stack([sharp[1], flat[1]]), 1 / 7)
    assert list(np.argsort(sharp[0][:6])) == list(np.argsort(probabilities[0][:6]))
