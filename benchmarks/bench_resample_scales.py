"""Resampling a detector frame at the ladder's window scales in one pass, against one ``resample`` per scale in the same run.

    python benchmarks/bench_resample_scales.py [--frames 4] [--rounds 24] [--threads 1]

``--window-scale ensemble`` and ``confidence`` resample every frame at the 25 scales of
``LADDER_CANDIDATES`` and classify them in one batch. The baseline calls ``resample`` at each
scale, as ``predict_ladder`` did until session 27: each call gathers the window's pixels and
classifies them (positive, zero, negative) again. ``resample_scales`` classifies the frame's
pixels once and bins them straight from the whole frame with each scale's plan. Realistic
Pilatus 1M frames of one geometry (plans built before timing, as in a run); the two ways
alternate on the same frame in every round. Prints the median ms per frame of each, the
median of the per-round ratios with its quartiles, then the same for the whole ladder
(``predict_ladder``'s work: resampling, folding and the ``frames`` model on the kept scales).
Checks first that both ways give identical images and masks.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
import torch

from xicam_gisaxs_cnn.frames import resample, resample_scales
from xicam_gisaxs_cnn.frames.fold import fold_qy
from xicam_gisaxs_cnn.frames.scale import LADDER_CANDIDATES
from xicam_gisaxs_cnn.models import load_model
from xicam_gisaxs_cnn_trainer.realistic.frames import PILATUS_1M, realistic_frame, sample_geometry

MIN_VALID_FRACTION: float = 0.05
"""The ladder's default: scales whose folded image holds less data are not classified."""


def scale_by_scale(frame: np.ndarray, **where) -> tuple[np.ndarray, np.ndarray]:
    """The baseline: one ``resample`` per ladder scale, (25, 125, 125) images and masks."""
    pairs = [resample(frame, window_scale=float(scale), **where) for scale in LADDER_CANDIDATES]
    return np.stack([image for image, _ in pairs]), np.stack([mask for _, mask in pairs])


def in_one_pass(frame: np.ndarray, **where) -> tuple[np.ndarray, np.ndarray]:
    """What the ladder does: ``resample_scales``."""
    return resample_scales(frame, window_scales=LADDER_CANDIDATES, **where)


def classified(resampling: Callable, classifier) -> Callable:
    """The ladder's whole work on one frame with ``resampling``: fold, keep the scales with data, classify."""
    def run(frame: np.ndarray, **where):
        images, masks = fold_qy(*resampling(frame, **where))
        kept = masks.mean(axis=(1, 2)) >= MIN_VALID_FRACTION
        return classifier.predict(images[kept], masks[kept])
    return run


def paired_ms(baseline: Callable, candidate: Callable, frames: list[np.ndarray], rounds: int, **where) -> np.ndarray:
    """(rounds, 2) ms per frame of ``baseline`` and ``candidate``, back to back on the same frame, first in turn."""
    times = np.zeros((rounds, 2))
    for index in range(rounds):
        order = (0, 1) if index % 2 == 0 else (1, 0)
        for column in order:
            start = time.perf_counter()
            (baseline, candidate)[column](frames[index % len(frames)], **where)
            times[index, column] = 1e3 * (time.perf_counter() - start)
    return times


def report(label: str, times: np.ndarray) -> None:
    ratios = times[:, 0] / times[:, 1]
    quartiles = np.percentile(ratios, [25, 75])
    print(f"{label:<32} {np.median(times[:, 0]):>9.1f} {np.median(times[:, 1]):>9.1f} "
          f"{np.median(ratios):>6.2f}x ({quartiles[0]:.2f}-{quartiles[1]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4, help="distinct frames, used in turn (default: 4)")
    parser.add_argument("--rounds", type=int, default=24, help="timed rounds (default: 24)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    geometry = sample_geometry(np.random.default_rng(1), layout=PILATUS_1M, nn_distance_nm=50.0)
    made = [realistic_frame(kind, nn_distance_nm=50.0, seed=index, geometry=geometry)
            for index, kind in zip(range(args.frames), ["FCC111", "BCC110", "HCP0001", "SC100"] * args.frames)]
    frames = [frame.counts for frame in made]
    where = {"geometry": geometry, "beam_stop_px": made[0].beam_stop_px}
    for frame in frames:  # builds the plans, and checks that both ways agree exactly
        (old_images, old_masks), (new_images, new_masks) = scale_by_scale(frame, **where), in_one_pass(frame, **where)
        if not (np.array_equal(old_images, new_images) and np.array_equal(old_masks, new_masks)):
            raise SystemExit("resample_scales differs from resample scale by scale")
    classifier = load_model("frames")
    print(f"{args.frames} realistic Pilatus 1M frames, {len(LADDER_CANDIDATES)} window scales, {args.threads} thread(s), "
          f"{args.rounds} rounds")
    print(f"{'ms per frame':<32} {'per scale':>9} {'one pass':>9} {'ratio (quartiles)':>18}")
    report("resampling", paired_ms(scale_by_scale, in_one_pass, frames, args.rounds, **where))
    report("resampling + frames model", paired_ms(classified(scale_by_scale, classifier),
                                                    classified(in_one_pass, classifier), frames, args.rounds, **where))


if __name__ == "__main__":
    main()
