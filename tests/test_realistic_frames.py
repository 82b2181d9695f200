"""Realistic detector frames: Pilatus layout, Bragg rods where 2 pi / d puts them, masks, counts, the file path."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.cli import main
from xicam_gisaxs_cnn.frames import (
    DetectorGeometry, geometry_from_mapping, pixel_from_q, read_frames, resample, write_frames,
)
from xicam_gisaxs_cnn.frames.scale import first_peak_qy_nm, inplane_profile
from xicam_gisaxs_cnn.physics import critical_angle_deg, silicon_refractive_index
from xicam_gisaxs_cnn_trainer.realistic.frames import (
    BAD_PIXEL_VALUE, GAP_VALUE, PILATUS_1M, PILATUS_2M, SMALL_DETECTOR, Instrument, detector_angles, realistic_frame,
    render_frame, write_realistic_frame,
)

# 13.5 keV, 5 m: one pixel is 0.0024 nm^-1 (the example); horizon 101 px above the beam
LONG = DetectorGeometry(energy_kev=13.5, distance_mm=5000.0, pixel_size_mm=(0.172, 0.172),
                        beam_centre_px=(120.0, 235.0), incidence_angle_deg=0.2)
ALIGNED = {"in_plane_angle_deg": 0.0, "mosaic_spread_deg": 0.0, "repetitions_lateral": 40.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sc100_100nm():
    return realistic_frame("SC100", nn_distance_nm=100.0, seed=4, layout=SMALL_DETECTOR, geometry=LONG,
                           instrument=Instrument(total_counts=1e7, beam_stop_width_px=20), overrides=ALIGNED)


def test_pilatus_layouts_put_gaps_between_195_by_487_pixel_modules():
    gaps = PILATUS_1M.gap_mask()
    assert gaps.shape == (1043, 981)
    assert not gaps[194, 100] and gaps[195, 100] and gaps[211, 100] and not gaps[212, 100]
    assert not gaps[100, 486] and gaps[100, 487] and gaps[100, 493] and not gaps[100, 494]
    assert gaps.mean() == pytest.approx(1 - 5 * 195 * 2 * 487 / (1043 * 981))
    assert PILATUS_2M.gap_mask().mean() == pytest.approx(1 - 8 * 195 * 3 * 487 / (1679 * 1475))


def test_first_bragg_rod_of_a_100nm_square_lattice_lands_at_two_pi_over_d(sc100_100nm):
    qy, profile = inplane_profile(sc100_100nm.counts, geometry=LONG, beam_stop_px=sc100_100nm.beam_stop_px)
    expected = 2 * math.pi / 100.0  # (010) rod of a square lattice aligned with the beam
    assert first_peak_qy_nm(qy, profile) == pytest.approx(expected, rel=0.04)
    # and on the detector it sits where the inverse geometry puts it, 27 px right of the beam
    x, _ = pixel_from_q(np.array(expected), np.array(0.25), geometry=LONG)
    columns = sc100_100nm.counts[100:120].clip(0).sum(axis=0)
    right = 120 + 15 + int(np.argmax(columns[135:170]))
    assert abs(right - float(x)) <= 1.5
    assert float(x) - 120 == pytest.approx(26.7, abs=0.5)


def test_gaps_beam_stop_and_horizon_are_masked_after_resampling(sc100_100nm, tmp_path):
    counts = sc100_100nm.counts
    gaps = SMALL_DETECTOR.gap_mask()
    assert np.all(counts[gaps] == GAP_VALUE)
    assert set(np.unique(counts[counts < 0])) <= {GAP_VALUE, BAD_PIXEL_VALUE}
    path = write_realistic_frame(tmp_path / "frame.tif", sc100_100nm)
    frame = next(read_frames(path))
    geometry = geometry_from_mapping(frame.geometry_values)
    image, mask = resample(frame.data, geometry=geometry, window_scale=6.0, beam_stop_px=sc100_100nm.beam_stop_px)
    qy = np.linspace(-1, 1, 125) / 6.0
    qz = np.linspace(2, 0, 125) / 6.0
    x, y = pixel_from_q(*np.meshgrid(qy, qz), geometry=geometry)
    x_min, x_max, y_min, y_max = sc100_100nm.beam_stop_px
    inside = np.isfinite(x) & (x >= 0) & (x <= 239) & (y >= 0) & (y <= 255)
    xi, yi = np.rint(np.where(inside, x, 0)).astype(int), np.rint(np.where(inside, y, 0)).astype(int)
    in_gap_core = inside & gaps[yi, xi] & gaps[np.clip(yi - 2, 0, 255), xi] & gaps[np.clip(yi + 2, 0, 255), xi] \
        & gaps[yi, np.clip(xi - 2, 0, 239)] & gaps[yi, np.clip(xi + 2, 0, 239)]
    under_stop = inside & (x > x_min + 1) & (x < x_max - 1) & (y > y_min + 1) & (y < y_max - 1)
    alpha_f, _ = detector_angles(SMALL_DETECTOR, geometry)
    below = inside & (alpha_f[yi, xi] < -0.005)
    assert in_gap_core.sum() > 20 and under_stop.sum() > 20 and below.sum() > 20
    assert not mask[in_gap_core].any()
    assert not mask[under_stop].any()
    assert not mask[below].any()
    assert mask[inside & ~in_gap_core & ~under_stop & (alpha_f[yi, xi] > 0.05)].mean() > 0.9


@pytest.mark.parametrize("total", [1e2, 1e4, 1e6])
def test_total_counts_match_the_requested_counts(total):
    rng = np.random.default_rng(int(total))
    film = rng.random(SMALL_DETECTOR.shape)
    counts, _ = render_frame(film, layout=SMALL_DETECTOR, geometry=LONG, instrument=Instrument(total_counts=total), rng=rng)
    live = counts >= 0
    assert counts.dtype == np.int32
    assert abs(counts[live].sum() - total) < 5 * math.sqrt(total)


def test_yoneda_band_of_an_empty_frame_peaks_at_the_critical_angle():
    instrument = Instrument(total_counts=1e8, specular_strength=0.0, parasitic_strength=0.0, direct_beam_strength=0.0,
                            beam_stop_width_px=0, constant_background=0.0, bad_pixel_fraction=0.0, yoneda_strength=1.0)
    geometry = DetectorGeometry(energy_kev=10.0, distance_mm=3000.0, pixel_size_mm=(0.172, 0.172),
                                beam_centre_px=(120.0, 250.0), incidence_angle_deg=0.2)
    counts, _ = render_frame(np.zeros(SMALL_DETECTOR.shape), layout=SMALL_DETECTOR, geometry=geometry,
                             instrument=instrument, rng=np.random.default_rng(0))
    rows = np.where(counts >= 0, counts, 0).sum(axis=1) / np.maximum((counts >= 0).sum(axis=1), 1)
    alpha_f, _ = detector_angles(SMALL_DETECTOR, geometry)
    brightest = alpha_f[int(np.argmax(rows)), 120]
    critical = critical_angle_deg(silicon_refractive_index(10.0)[0])  # 0.179 deg at 10 keV
    pixel_deg = math.degrees(0.172 / 3000.0)
    assert abs(brightest - critical) <= 1.5 * pixel_deg


@pytest.mark.parametrize("suffix", [".tif", ".edf", ".cbf", ".h5"])
def test_every_format_keeps_counts_and_geometry(sc100_100nm, tmp_path, suffix):
    path = write_realistic_frame(tmp_path / f"frame{suffix}", sc100_100nm)
    frame = next(read_frames(path))
    np.testing.assert_array_equal(frame.data, sc100_100nm.counts)
    geometry = geometry_from_mapping(frame.geometry_values)
    assert geometry.distance_mm == pytest.approx(LONG.distance_mm)
    assert geometry.energy_kev == pytest.approx(LONG.energy_kev, rel=1e-6)
    assert geometry.beam_centre_px == pytest.approx(LONG.beam_centre_px)


def test_gisaxs_cnn_classify_labels_a_realistic_frame_and_records_the_scale(sc100_100nm, tmp_path, capsys, untrained_bundle):
    path = write_realistic_frame(tmp_path / "frame.cbf", sc100_100nm)
    x_min, x_max, y_min, y_max = sc100_100nm.beam_stop_px
    status = main(["classify", str(path), "--model", str(untrained_bundle), "--json", "--window-scale", "6",
                   "--beam-stop-px", str(x_min), str(x_max), str(y_min), str(y_max)])
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert status == 0 and record["error"] is None
    assert record["label"] in CLASS_NAMES and record["window_scale"] == 6.0
    assert 0.05 < record["valid_fraction"] < 0.9


def test_frames_of_implausible_geometry_or_too_little_data_get_errors_naming_the_problem(sc100_100nm, tmp_path, capsys,
                                                                                        untrained_bundle):
    path = write_realistic_frame(tmp_path / "frame.edf", sc100_100nm)
    blank = sc100_100nm.counts.copy()
    blank[:] = GAP_VALUE
    blank_path = write_frames(tmp_path / "blank.edf", blank, geometry=LONG)
    runs = [
        (["--beam-centre-px", "900", "100"], "lies off the detector"),
        (["--distance-mm", "-5"], "distance_mm must be > 0"),
        (["--wavelength-nm", "0.0155"], "energy_kev must be within"),  # 80 keV
    ]
    for options, message in runs:
        main(["classify", str(path), "--model", str(untrained_bundle), "--json", *options])
        record = json.loads(capsys.readouterr().out.splitlines()[0])
        assert record["label"] is None and message in record["error"]
    main(["classify", str(blank_path), "--model", str(untrained_bundle), "--json", "--window-scale", "1"])
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["label"] is None and "holds data after masking" in record["error"]
    main(["classify", str(blank_path), "--model", str(untrained_bundle), "--json"])  # every scale of the ensemble
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["label"] is None and "no candidate window scale leaves 5% of the canonical grid with data" in record["error"]


def test_films_of_no_class_render_without_bragg_rods_or_at_all():
    empty = realistic_frame("empty", nn_distance_nm=50.0, seed=1, layout=SMALL_DETECTOR, geometry=LONG)
    monolayer = realistic_frame("monolayer", nn_distance_nm=100.0, seed=1, layout=SMALL_DETECTOR, geometry=LONG,
                                instrument=Instrument(total_counts=1e7, beam_stop_width_px=20))
    assert empty.label == "empty" and math.isnan(empty.nn_distance_nm)
    assert empty.film_parameters == {} and monolayer.film_parameters == {}
    qy, profile = inplane_profile(monolayer.counts, geometry=LONG, beam_stop_px=monolayer.beam_stop_px)
    # a hexagonal monolayer's first rod: 4 pi / (sqrt 3 d) or higher
    assert first_peak_qy_nm(qy, profile) >= 0.95 * 4 * math.pi / (math.sqrt(3) * 100.0)
    assert 0.5 < monolayer.live_fraction < 1.0


def test_a_superlattice_frame_records_the_film_the_simulator_drew(sc100_100nm):
    """The grain's size in unit cells is what the realistic report tabulates accuracy against."""
    film = sc100_100nm.film_parameters
    assert film["repetitions_lateral"] == 40.0 and film["in_plane_angle_deg"] == 0.0
    assert film["nn_distance_nm"] == 100.0 and film["label"] == CLASS_NAMES.index("SC100")
    assert 1 <= film["repetitions_vertical"] <= 20 and film["repetitions_vertical"] == round(film["repetitions_vertical"])
    assert "energy_kev" not in film and "alpha_i_deg" not in film  # the geometry's, not the draw's
