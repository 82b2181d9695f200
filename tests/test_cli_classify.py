"""``gisaxs-cnn classify FILE...``: one line per frame, failing files get an error line and the rest go on."""
from __future__ import annotations

import json

import numpy as np
import pytest

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.cli import main
from xicam_gisaxs_cnn.frames import DetectorGeometry, classify_frames, resample, write_frames
from xicam_gisaxs_cnn.frames.fold import fold_qy
from xicam_gisaxs_cnn.frames.scale import LADDER_CANDIDATES
from xicam_gisaxs_cnn.models import load_model

PILATUS_1M = (1043, 981)
GEOMETRY = DetectorGeometry(energy_kev=10.0, distance_mm=2000.0, pixel_size_mm=(0.172, 0.172),
                            beam_centre_px=(480.0, 980.0), incidence_angle_deg=0.2)


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    good = rng.poisson(30, PILATUS_1M).astype(np.float32)
    good[195:212] = -1
    return good, np.full(PILATUS_1M, np.nan, dtype=np.float32)


def _records(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_classify_reports_every_frame_and_every_failing_file(tmp_path, capsys, untrained_bundle, frames):
    good, nan_frame = frames
    edf = write_frames(tmp_path / "run.edf", np.stack([good, nan_frame]), geometry=GEOMETRY)
    cbf = write_frames(tmp_path / "sidecar.cbf", np.rint(good).astype(np.int32))
    (tmp_path / "sidecar.cbf.json").write_text(json.dumps(GEOMETRY.to_dict()))
    bare = write_frames(tmp_path / "bare.tif", good)
    canonical = write_frames(tmp_path / "canonical.h5", np.ones((125, 125), dtype=np.float32))
    corrupt = tmp_path / "corrupt.edf"
    corrupt.write_bytes(b"\x00garbage")
    missing = tmp_path / "missing.cbf"

    status = main(["classify", str(edf), str(corrupt), str(cbf), str(missing), str(bare), str(canonical),
                   "--model", str(untrained_bundle), "--window-scale", "1", "--json"])
    records = _records(capsys)
    assert status == 1
    assert [r["source"] for r in records] == [f"{edf}[0]", f"{edf}[1]", str(corrupt), str(cbf), str(missing),
                                              str(bare), str(canonical)]
    ok = [r for r in records if r["error"] is None]
    assert [r["source"] for r in ok] == [f"{edf}[0]", str(cbf), str(canonical)]
    assert all(r["label"] in CLASS_NAMES and sum(r["probabilities"]) == pytest.approx(1, abs=1e-4) for r in ok)
    errors = {r["source"]: r["error"] for r in records if r["error"]}
    assert "frame holds no finite value" in errors[f"{edf}[1]"]
    assert f"cannot read {corrupt} as edf" in errors[str(corrupt)]
    assert "no such detector file" in errors[str(missing)]
    assert "detector geometry lacks energy_kev" in errors[str(bare)]

    # the command goes through the same pure path as a direct call: resampled, then folded about qy = 0
    image, mask = fold_qy(*resample(good, geometry=GEOMETRY))
    assert records[0]["folded"] and not records[-1]["folded"]  # canonical images are never folded
    prediction = load_model(untrained_bundle).predict(image, mask)
    assert records[0]["label"] == prediction.label
    np.testing.assert_allclose(records[0]["probabilities"], prediction.probability, atol=1e-5)


def test_without_options_detector_frames_get_the_frames_model_across_scales_and_canonical_images_the_default(
        tmp_path, capsys, untrained_bundle, frames):
    detector = write_frames(tmp_path / "frame.edf", frames[0], geometry=GEOMETRY)
    canonical = write_frames(tmp_path / "canonical.h5", np.ones((125, 125), dtype=np.float32))
    assert main(["classify", str(detector), str(canonical), "--json"]) == 0
    on_detector, on_grid = _records(capsys)
    assert on_detector["model"] == "frames" and on_grid["model"] == "default"
    assert on_grid["window_scale"] == 1.0
    ensemble = classify_frames([frames[0]], classifier=load_model("frames"), geometry=GEOMETRY, sources=["x"],
                               window_scale="ensemble")[0]
    assert on_detector["window_scale"] == ensemble.window_scale and on_detector["label"] == ensemble.label
    # a model given by the user is used on both; the window scale is still chosen per frame kind
    assert main(["classify", str(detector), str(canonical), "--model", str(untrained_bundle), "--json"]) == 0
    records = _records(capsys)
    assert {r["model"] for r in records} == {load_model(untrained_bundle).name}
    assert records[0]["window_scale"] in LADDER_CANDIDATES and records[1]["window_scale"] == 1.0


def test_geometry_options_complete_a_bare_file_and_the_table_lists_it(tmp_path, capsys, untrained_bundle, frames):
    bare = write_frames(tmp_path / "bare.tif", frames[0])
    status = main(["classify", str(bare), "--model", str(untrained_bundle), "--energy-kev", "10",
                   "--distance-mm", "2000", "--pixel-size-mm", "0.172", "--beam-centre-px", "480", "980",
                   "--incidence-deg", "0.2", "--beam-stop-px", "460", "500", "900", "1042"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0].split() == ["source", "label", "p", "ood", "flag", "valid", "scale", "error"]
    source, label, _, _, flag, _, scale = lines[1].split()
    assert source == str(bare) and label in CLASS_NAMES
    assert flag == "-"  # the untrained bundle has no OOD statistics, so it flags nothing
    assert np.isclose(float(scale), LADDER_CANDIDATES, rtol=1e-3).any()  # the scale the ensemble chose


def test_geometry_json_option_is_checked(tmp_path, capsys, untrained_bundle, frames):
    bare = write_frames(tmp_path / "bare.tif", frames[0])
    status = main(["classify", str(bare), "--model", str(untrained_bundle), "--json",
                   "--geometry", json.dumps({**GEOMETRY.to_dict(), "distance_mm": -5})])
    (record,) = _records(capsys)
    assert status == 1 and "distance_mm must be > 0, got -5" in record["error"]


def test_no_fold_classifies_the_frame_as_resampled(tmp_path, capsys, untrained_bundle, frames):
    """``--no-fold``: the canonical image goes to the model unfolded, and the record says so."""
    edf = write_frames(tmp_path / "run.edf", frames[0], geometry=GEOMETRY)
    assert main(["classify", str(edf), "--model", str(untrained_bundle), "--window-scale", "1", "--json",
                 "--no-fold"]) == 0
    [record] = _records(capsys)
    prediction = load_model(untrained_bundle).predict(*resample(frames[0], geometry=GEOMETRY))
    assert record["folded"] is False
    np.testing.assert_allclose(record["probabilities"], prediction.probability, atol=1e-5)
