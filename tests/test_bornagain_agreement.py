"""The simulator against BornAgain 25 on the same q points: log-intensity correlation >= 0.999.

BornAgain runs here for real (small 40 x 40 detectors); its mesocrystal is summed
directly over the lattice sites and its slice materials are not averaged.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("bornagain")

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig, simulate_angles
from xicam_gisaxs_cnn_trainer.simulation.bornagain_reference import (
    Detector,
    Grain,
    bornagain_pattern,
    detector_exit_angles,
)

DETECTOR = Detector()
DOUBLE = SimulationConfig(dtype="float64", in_plane="grains")
SINGLE = SimulationConfig(dtype="float32", in_plane="grains")

GRAINS = {
    "single-cell": dict(repetitions_lateral=1, repetitions_vertical=1, in_plane_angle_deg=0.0),
    "small": dict(repetitions_lateral=3, repetitions_vertical=2, in_plane_angle_deg=0.0),
    "small-rotated": dict(nn_distance_nm=25.0, radius_nm=8.0, repetitions_lateral=5, repetitions_vertical=3,
                          in_plane_angle_deg=17.0, compression=0.1),
    "large-rotated": dict(nn_distance_nm=30.0, radius_nm=9.0, repetitions_lateral=41, repetitions_vertical=6,
                          in_plane_angle_deg=33.0),
    "large-other-angle": dict(nn_distance_nm=14.0, radius_nm=4.0, repetitions_lateral=25, repetitions_vertical=4,
                              in_plane_angle_deg=71.0, alpha_i_deg=0.22),
}


def log_correlation(reference: np.ndarray, ours: np.ndarray, valid: np.ndarray) -> float:
    """Pearson correlation of log intensities (invariant to one global scale factor)."""
    return float(np.corrcoef(np.log(reference[valid]), np.log(ours[valid]))[0, 1])


def compare(grain: Grain, *, config: SimulationConfig = DOUBLE, born: bool = False) -> float:
    alpha_f, two_theta = detector_exit_angles(DETECTOR, energy_kev=grain.energy_kev, alpha_i_deg=grain.alpha_i_deg)
    reference = bornagain_pattern(grain, DETECTOR, born=born)
    ours = simulate_angles(
        grain.params(), alpha_f_deg=alpha_f, two_theta_f_deg=two_theta,
        config=SimulationConfig.from_dict({**config.to_dict(), "born": born}),
    )[0].double().numpy()
    return log_correlation(reference, ours, alpha_f > 0)


@pytest.mark.parametrize("case", sorted(GRAINS))
@pytest.mark.parametrize("label", range(len(CLASS_NAMES)), ids=CLASS_NAMES)
def test_dwba_pattern_agrees_with_bornagain(label, case):
    assert compare(Grain(label, **GRAINS[case])) >= 0.999


@pytest.mark.parametrize("label", [0, 5, 6], ids=["SC100", "FCC111", "HCP0001"])
def test_float32_pattern_agrees_with_bornagain(label):
    assert compare(Grain(label, **GRAINS["large-rotated"]), config=SINGLE) >= 0.999


@pytest.mark.parametrize("label", [1, 3], ids=["SC110", "BCC110"])
def test_born_approximation_agrees_with_bornagain_without_substrate(label):
    assert compare(Grain(label, **GRAINS["small-rotated"]), born=True) >= 0.999


def test_non_ideal_hcp_agrees_with_bornagain():
    assert compare(Grain(6, hcp_c_over_a=1.50, repetitions_lateral=9, repetitions_vertical=5, in_plane_angle_deg=8.0)) >= 0.999


def test_agreement_fails_for_a_different_lattice():
    """The comparison can fail: BCC100 against BornAgain's FCC100 of the same spacing."""
    alpha_f, two_theta = detector_exit_angles(DETECTOR, energy_kev=10.0, alpha_i_deg=0.2)
    geometry = dict(repetitions_lateral=9, repetitions_vertical=4, in_plane_angle_deg=10.0)
    reference = bornagain_pattern(Grain(4, **geometry), DETECTOR)
    ours = simulate_angles(Grain(2, **geometry).params(), alpha_f_deg=alpha_f, two_theta_f_deg=two_theta, config=DOUBLE)
    assert log_correlation(reference, ours[0].numpy(), alpha_f > 0) < 0.99
