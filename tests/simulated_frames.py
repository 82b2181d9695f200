"""Simulated GISAXS patterns and detector frames shared by the Xi-cam tests (small and seeded)."""
from __future__ import annotations

import numpy as np
import torch

from xicam_gisaxs_cnn.classes import class_index
from xicam_gisaxs_cnn.frames.geometry import DetectorGeometry
from xicam_gisaxs_cnn.frames.qmap import exit_angles_deg
from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig, sample_parameters, simulate, simulate_angles

SMALL_DETECTOR_SHAPE: tuple[int, int] = (250, 240)
"""(rows, columns) of a small detector that still covers the canonical q window at 1 m and 10 keV."""

SMALL_DETECTOR = DetectorGeometry(
    energy_kev=10.0,
    distance_mm=1000.0,
    pixel_size_mm=(0.172, 0.172),
    beam_centre_px=(120.0, 240.0),
    incidence_angle_deg=0.2,
)


def _parameters(label: str, seed: int) -> tuple[dict, SimulationConfig]:
    config = SimulationConfig()
    generator = torch.Generator().manual_seed(seed)
    return sample_parameters(torch.tensor([class_index(label)]), config, generator), config


def simulated_pattern(label: str, seed: int) -> np.ndarray:
    """One simulated canonical pattern (125, 125) of class ``label``."""
    params, config = _parameters(label, seed)
    return simulate(params, config=config)[0].numpy()


def simulated_frame(label: str, seed: int) -> np.ndarray:
    """One simulated frame of class ``label`` on :data:`SMALL_DETECTOR`, scaled to 100 counts per pixel on average.

    Pixels below the sample horizon read 0, which the resampling masks as gaps.
    """
    params, config = _parameters(label, seed)
    y_px, x_px = np.mgrid[0:SMALL_DETECTOR_SHAPE[0], 0:SMALL_DETECTOR_SHAPE[1]]
    alpha_f, two_theta_f = exit_angles_deg(x_px, y_px, geometry=SMALL_DETECTOR)
    intensity = simulate_angles(params, alpha_f_deg=alpha_f, two_theta_f_deg=two_theta_f, config=config)[0].numpy()
    return intensity * (100.0 / intensity.mean())
