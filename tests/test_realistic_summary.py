"""The realistic report's summary of classification records: goals on every frame and on the frames that hold a 3-D lattice."""
from __future__ import annotations

import pytest

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn_trainer.realistic.evaluate import (
    MIN_FRAME_COUNTS, MIN_GRAIN_CELLS, holds_3d_lattice, markdown_tables, summarise,
)


def _record(kind: str, label: str | None, *, counts: float = 1e5, cells: tuple[int, int] | None = (20, 5),
            ood_score: float = 0.5) -> dict:
    lateral, vertical = cells or (None, None)
    probabilities = None if label is None else [0.9 if name == label else 0.1 / 6 for name in CLASS_NAMES]
    return {"kind": kind, "label": label, "nn_distance_nm": 50.0, "repetitions_lateral": lateral,
            "repetitions_vertical": vertical, "incidence_angle_deg": 0.2, "total_counts": counts, "valid_fraction": 0.6,
            "window_scale": 2.0, "error": None if label else "refused", "ood_score": ood_score, "probability": 0.9,
            "probabilities": probabilities}


def test_frames_hold_a_3d_lattice_with_enough_photons_and_a_grain_wide_and_high_enough():
    assert MIN_GRAIN_CELLS == (3, 2) and MIN_FRAME_COUNTS == 1e3
    assert holds_3d_lattice(_record("FCC111", "FCC111", cells=(3, 2)))
    assert not holds_3d_lattice(_record("FCC111", "FCC111", cells=(2, 20)))  # rods half a zone wide
    assert not holds_3d_lattice(_record("SC100", "SC100", cells=(50, 1)))  # a square monolayer
    assert not holds_3d_lattice(_record("SC100", "SC100", counts=999.0))
    assert holds_3d_lattice(_record("monolayer", "SC110", cells=None)) and holds_3d_lattice(_record("empty", "SC100", cells=None))
    assert not holds_3d_lattice(_record("monolayer", "SC110", counts=500.0, cells=None))


def test_goals_are_measured_again_on_the_frames_that_hold_a_3d_lattice():
    superlattices = [_record("HCP0001", "HCP0001", ood_score=0.1 * i) for i in range(1, 10)]
    superlattices += [_record("HCP0001", "FCC111", cells=(1, 8), ood_score=0.95),  # one cell wide
                      _record("HCP0001", "SC100", counts=200.0, ood_score=0.97)]  # too few photons
    no_class = [_record("monolayer", "SC110", cells=None, ood_score=0.93), _record("monolayer", "SC110", cells=None, counts=300.0)]
    metrics = summarise(superlattices + no_class)
    assert metrics["accuracy"] == pytest.approx(100 * 9 / 11, abs=0.01) and metrics["hcp_recall"] == pytest.approx(9 / 11)
    assert metrics["calibration_error"] == pytest.approx(100 * (0.9 - 9 / 11), abs=0.01)  # every label at p = 0.9
    subset = metrics["on_3d_grains"]
    assert subset["frame_counts"] == {"superlattice": 9, "disordered": 0, "empty": 0, "monolayer": 1}
    assert subset["accuracy"] == 100.0 and subset["hcp_recall"] == 1.0
    # every frame: the threshold sits among the two wrong superlattices' high scores, the monolayer at 0.93 falls below it
    assert metrics["ood"]["monolayer"]["detection"] == 0.0 and subset["ood"]["monolayer"]["detection"] == 1.0
    goals = {row["goal"]: row for row in subset["goals"]}
    assert goals["overall accuracy"]["met"] and goals["monolayer films flagged at 5 % false alarms"]["met"]
    text = markdown_tables({**metrics, "detector": "test", "per_class": 1, "ood_per_kind": 1, "seed": 0, "plots": []})
    assert "superlattice grains at least 3 unit cells wide and 2 high, every frame with at least 1000 photons (9 superlattice frames" in text
    assert f"| overall accuracy | >= 95 | {100 * 9 / 11:.1f} | **no** | 100.0 | yes |" in text


def test_no_superlattice_frame_holding_a_3d_lattice_leaves_the_subset_out():
    metrics = summarise([_record("SC100", "SC100", counts=10.0), _record("empty", "SC100", cells=None)])
    assert metrics["on_3d_grains"] is None and metrics["accuracy"] == 100.0
