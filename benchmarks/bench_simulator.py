"""Patterns per second of the torch GISAXS simulator against BornAgain, with their agreement.

Run from the repository root::

    python benchmarks/bench_simulator.py                 # CPU, 56 configurations
    python benchmarks/bench_simulator.py --device cuda   # simulator on a GPU (BornAgain stays on the CPU)

Part 1 draws perfect grains from the training distribution (SimulationConfig:
d, R, 1-200 x 1-200 x 1-20 cells, in-plane angle, compression, incidence angle;
eight per class; the lateral count made odd for BornAgain's mesocrystal) and
simulates each on the same 40 x 40 detector with both programs: BornAgain one
pattern at a time, this simulator as one batch, both on --threads CPU threads. Part 2
times the full training simulation (disorder, three grains, broadening) on the
canonical 125 x 125 grid at batch 1, 64 and 512.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from xicam_gisaxs_cnn.classes import CLASS_NAMES, NUM_CLASSES
from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig, sample_parameters, simulate, simulate_angles
from xicam_gisaxs_cnn_trainer.simulation.bornagain_reference import (
    Detector,
    Grain,
    bornagain_pattern,
    detector_exit_angles,
)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=8, help="configurations per class compared with BornAgain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="device of this simulator (cpu or cuda)")
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 64, 512], help="batch sizes of part 2")
    parser.add_argument("--repeats", type=int, default=3, help="timings keep the best of this many runs")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of both simulators")
    return parser


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(function, device: str = "cpu") -> tuple[float, float]:
    """Wall-clock and process CPU seconds (all threads) of one call."""
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    function()
    _synchronize(device)
    return time.perf_counter() - start_wall, time.process_time() - start_cpu


def best_time(function, repeats: int, device: str) -> tuple[float, float]:
    """Fastest wall-clock and CPU seconds of ``repeats`` calls (after one warm-up call).

    The CPU time is robust to other jobs sharing the machine; the wall time is
    what a user waits for.
    """
    function()
    _synchronize(device)
    runs = [timed(function, device) for _ in range(repeats)]
    return min(run[0] for run in runs), min(run[1] for run in runs)


def sampled_grains(per_class: int, seed: int) -> list[Grain]:
    """Perfect grains drawn from the training distribution, BornAgain-compatible."""
    labels = torch.arange(NUM_CLASSES).repeat_interleave(per_class)
    params = sample_parameters(labels, SimulationConfig(), torch.Generator().manual_seed(seed))
    grains = []
    for i, label in enumerate(labels.tolist()):
        lateral = int(params["repetitions_lateral"][i])
        grains.append(Grain(
            label,
            nn_distance_nm=float(params["nn_distance_nm"][i]),
            radius_nm=float(params["radius_nm"][i]),
            repetitions_lateral=lateral if lateral % 2 else lateral - 1 if lateral > 1 else 1,
            repetitions_vertical=int(params["repetitions_vertical"][i]),
            in_plane_angle_deg=float(params["in_plane_angle_deg"][i]),
            compression=float(params["compression"][i]),
            alpha_i_deg=float(params["alpha_i_deg"][i]),
            energy_kev=float(params["energy_kev"][i]),
        ))
    return grains


def compare_with_bornagain(grains: list[Grain], *, device: str, repeats: int, threads: int) -> dict:
    """Per-grain BornAgain time and log-correlation; batch time of this simulator."""
    detector = Detector()
    config = SimulationConfig(chunk_size=len(grains), in_plane="grains")
    batch = {name: torch.cat([grain.params()[name] for grain in grains]) for name in grains[0].params()}
    # one detector geometry per (energy, incidence angle): simulate grain by grain where they differ
    angles = [detector_exit_angles(detector, energy_kev=g.energy_kev, alpha_i_deg=g.alpha_i_deg) for g in grains]
    alpha_f = np.stack([a for a, _ in angles])
    two_theta = np.stack([t for _, t in angles])
    # BornAgain's pixel directions hardly depend on alpha_i: check, then use one geometry for the batch
    spread = float(np.abs(alpha_f - alpha_f[0]).max())

    def ours() -> torch.Tensor:
        return simulate_angles(batch, alpha_f_deg=alpha_f[0], two_theta_f_deg=two_theta[0], config=config, device=device)

    ours_time = best_time(ours, repeats, device)
    images = ours().double().cpu().numpy()
    rows = []
    for index, grain in enumerate(grains):
        holder = {}
        elapsed = timed(lambda: holder.update(reference=bornagain_pattern(grain, detector, threads=threads)))
        reference = holder["reference"]
        own = simulate_angles(grain.params(), alpha_f_deg=alpha_f[index], two_theta_f_deg=two_theta[index],
                              config=config)[0].double().numpy()
        valid = alpha_f[index] > 0
        correlation = float(np.corrcoef(np.log(reference[valid]), np.log(own[valid]))[0, 1])
        batch_correlation = float(np.corrcoef(np.log(reference[valid]), np.log(images[index][valid]))[0, 1])
        rows.append((grain, elapsed, correlation, batch_correlation))
    return {"rows": rows, "ours_time": ours_time, "pixel_spread_deg": spread}


def throughput(batches: list[int], *, device: str, repeats: int, seed: int) -> list[tuple[int, tuple[float, float]]]:
    """Best wall and CPU seconds of the full training simulation on the canonical grid, per batch size."""
    config = SimulationConfig()
    results = []
    for size in batches:
        labels = torch.arange(size) % NUM_CLASSES
        params = sample_parameters(labels, config, torch.Generator().manual_seed(seed))
        results.append((size, best_time(lambda: simulate(params, config=config, device=device),
                                        repeats if size < 512 else 1, device)))
    return results


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU threads for both simulators, this simulator on {args.device}")
    grains = sampled_grains(args.per_class, args.seed)
    result = compare_with_bornagain(grains, device=args.device, repeats=args.repeats, threads=args.threads)
    print("\n| class | N x N x Nz | d (nm) | R (nm) | angle (deg) | BornAgain wall (s) | BornAgain CPU (s) | log-correlation |")
    print("|---|---|---|---|---|---|---|---|")
    for grain, (wall, cpu), correlation, _ in result["rows"]:
        print(f"| {CLASS_NAMES[grain.label]} | {grain.repetitions_lateral} x {grain.repetitions_lateral} x "
              f"{grain.repetitions_vertical} | {grain.nn_distance_nm:.1f} | {grain.radius_nm:.1f} | "
              f"{grain.in_plane_angle_deg:.1f} | {wall:.3f} | {cpu:.3f} | {correlation:.6f} |")
    count = len(grains)
    ba_wall = count / sum(row[1][0] for row in result["rows"])
    ba_cpu = count / sum(row[1][1] for row in result["rows"])
    our_wall, our_cpu = (count / seconds for seconds in result["ours_time"])
    correlations = [row[2] for row in result["rows"]]
    batch_correlations = [row[3] for row in result["rows"]]
    print(f"\n40 x 40 detector, {count} configurations (patterns/s; per CPU-second in brackets):")
    print(f"  BornAgain       {ba_wall:9.2f}  ({ba_cpu:.2f})")
    print(f"  this simulator  {our_wall:9.1f}  ({our_cpu:.1f})   float32, one batch")
    print(f"  ratio           {our_wall / ba_wall:9.0f}x ({our_cpu / ba_cpu:.0f}x)")
    print(f"  log-intensity correlation: min {min(correlations):.6f}, median {np.median(correlations):.6f} "
          f"(the batch on one pixel geometry: min {min(batch_correlations):.6f}; BornAgain's pixel directions "
          f"differ by <= {result['pixel_spread_deg']:.1e} deg across the incidence angles)")
    print("\nFull training simulation (disorder, 3 grains, broadening), canonical 125 x 125 grid, float32:")
    for size, (wall, cpu) in throughput(args.batches, device=args.device, repeats=args.repeats, seed=args.seed):
        print(f"  batch {size:4d}: {size / wall:7.1f} patterns/s ({size / cpu:.1f} per CPU-second)")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
