"""Montage of all seven classes: this simulator beside BornAgain, and sampled training patterns.

Run from the repository root (about a minute on two CPU cores)::

    python benchmarks/make_simulator_montage.py            # writes docs/simulator_montage.png

Rows: (1) this simulator and (2) BornAgain for one perfect grain per class on the
same 100 x 100 detector (15 x 15 x 4 cells, d = 20 nm, R = 6 nm, 10 deg in-plane),
with the log-intensity correlation; (3) one pattern per class drawn from the
training distribution (disorder, three grains, broadening) on the canonical grid.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from xicam_gisaxs_cnn.canonical import QY_RANGE_NM, QZ_RANGE_NM  # noqa: E402
from xicam_gisaxs_cnn.classes import CLASS_NAMES, NUM_CLASSES  # noqa: E402
from xicam_gisaxs_cnn_trainer.simulation import (  # noqa: E402
    SimulationConfig,
    sample_parameters,
    simulate,
    simulate_angles,
)
from xicam_gisaxs_cnn_trainer.simulation.bornagain_reference import (  # noqa: E402
    Detector,
    Grain,
    bornagain_pattern,
    detector_exit_angles,
)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("docs/simulator_montage.png"))
    parser.add_argument("--pixels", type=int, default=100, help="detector pixels per side of rows 1 and 2")
    parser.add_argument("--seed", type=int, default=3, help="seed of the sampled training patterns (row 3)")
    return parser


def log_image(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """log10 of the intensity over its maximum, 5 decades, NaN where there is no data."""
    scaled = np.where(valid, image / image[valid].max(), np.nan)
    return np.log10(np.clip(scaled, 1e-5, None))


def main(args: argparse.Namespace) -> None:
    detector = Detector(pixels=args.pixels)
    alpha_f, two_theta = detector_exit_angles(detector, energy_kev=10.0, alpha_i_deg=0.2)
    valid = alpha_f > 0
    extent_angles = [*detector.two_theta_f_deg, *detector.alpha_f_deg]
    config = SimulationConfig()
    training = simulate(
        sample_parameters(torch.arange(NUM_CLASSES), config, torch.Generator().manual_seed(args.seed)), config=config
    ).numpy()
    figure, axes = plt.subplots(3, NUM_CLASSES, figsize=(2.2 * NUM_CLASSES, 7.4), constrained_layout=True)
    for label, name in enumerate(CLASS_NAMES):
        grain = Grain(label, repetitions_lateral=15, repetitions_vertical=4, in_plane_angle_deg=10.0)
        ours = simulate_angles(grain.params(), alpha_f_deg=alpha_f, two_theta_f_deg=two_theta)[0].double().numpy()
        reference = bornagain_pattern(grain, detector)
        correlation = np.corrcoef(np.log(reference[valid]), np.log(ours[valid]))[0, 1]
        for row, image in enumerate((ours, reference)):
            axes[row, label].imshow(log_image(image, valid), origin="lower", extent=extent_angles, aspect="auto",
                                    cmap="inferno", vmin=-5, vmax=0)
        axes[0, label].set_title(name)
        axes[1, label].set_title(f"r = {correlation:.6f}", fontsize=9)
        canonical = training[label]
        axes[2, label].imshow(log_image(canonical, canonical > 0), extent=[*QY_RANGE_NM, *QZ_RANGE_NM[::-1]],
                              aspect="auto", cmap="inferno", vmin=-5, vmax=0)
    for row, text in enumerate(("this simulator\nalpha_f (deg)", "BornAgain 25\nalpha_f (deg)", "training sample\nqz (1/nm)")):
        axes[row, 0].set_ylabel(text)
    for label in range(NUM_CLASSES):
        axes[1, label].set_xlabel("2theta_f (deg)")
        axes[2, label].set_xlabel("qy (1/nm)")
    figure.suptitle("GISAXS of one grain per class (15 x 15 x 4 cells, d = 20 nm, R = 6 nm, 10 deg), log10 intensity; "
                    "bottom: patterns drawn from the training distribution", fontsize=10)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
