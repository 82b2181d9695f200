"""Cost of each way to choose the window scale, per Pilatus 1M frame, against a fixed scale measured in the same run.

    python benchmarks/bench_window_scale.py [--model frames] [--frames 20] [--threads 1]

Realistic Pilatus 1M frames (one geometry, as in a run) are classified with
``classify_frames`` one at a time, as the live path does, with ``window_scale`` 1
(the baseline), ``"auto"``, ``"confidence"`` and ``"ensemble"``. Prints the first
frame's time (the resampling plans are built then) and the median of the rest,
in s per frame, with the ratio to the baseline's median.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from xicam_gisaxs_cnn.frames import classify_frames
from xicam_gisaxs_cnn.frames.resample import _cached_plan, _pixel_map
from xicam_gisaxs_cnn.models import load_model
from xicam_gisaxs_cnn_trainer.realistic.frames import PILATUS_1M, realistic_frame, sample_geometry

MODES: tuple = (1.0, "auto", "confidence", "ensemble")


def seconds_per_frame(frames, *, classifier, geometry, beam_stop_px, window_scale) -> list[float]:
    """Wall time of each frame's classification, s, starting from empty caches of plans and pixel q maps."""
    _cached_plan.cache_clear()
    _pixel_map.cache_clear()
    times = []
    for index, frame in enumerate(frames):
        start = time.perf_counter()
        classify_frames([frame], classifier=classifier, geometry=geometry, sources=[str(index)],
                        window_scale=window_scale, beam_stop_px=beam_stop_px)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="frames", help="bundle name or path (default: frames)")
    parser.add_argument("--frames", type=int, default=20, help="frames per mode (at least 2)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.frames < 2:
        parser.error(f"--frames must be >= 2, got {args.frames}")
    torch.set_num_threads(args.threads)
    classifier = load_model(args.model)
    geometry = sample_geometry(np.random.default_rng(1), layout=PILATUS_1M, nn_distance_nm=50.0)
    made = [realistic_frame(kind, nn_distance_nm=50.0, seed=index, geometry=geometry)
            for index, kind in zip(range(args.frames), ["FCC111", "BCC110", "HCP0001", "SC100"] * args.frames)]
    frames, beam_stop_px = [made_frame.counts for made_frame in made], made[0].beam_stop_px
    print(f"model {classifier.name}, {args.frames} Pilatus 1M frames of one geometry, {args.threads} thread(s)")
    print(f"{'window_scale':>14} {'first frame (s)':>16} {'median (s)':>11} {'vs fixed':>9}")
    baseline = None
    for mode in MODES:
        times = seconds_per_frame(frames, classifier=classifier, geometry=geometry, beam_stop_px=beam_stop_px,
                                  window_scale=mode)
        median = statistics.median(times[1:])
        baseline = baseline or median
        print(f"{str(mode):>14} {times[0]:>16.3f} {median:>11.3f} {median / baseline:>8.1f}x")


if __name__ == "__main__":
    main()
