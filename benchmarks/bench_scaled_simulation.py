"""Simulating a batch of many window scales in one call, against one call per scale measured in the same run.

    python benchmarks/bench_scaled_simulation.py [--batch 128] [--rounds 5] [--threads 2] [--device cpu]

``gisaxs-cnn train --data simulate-scaled`` draws every pattern's window scale (0.35-8, 36
ladder steps), so a batch holds dozens of scales. The baseline renders it as the trainer did
until session 26: one simulator call per scale (what kept the powder rings to tabulate few when
their count followed the batch's largest q and lattice). ``render_scaled`` now simulates the batch
in one call, the rings tabulated per pattern. Prints the median seconds per batch of each way
(alternating, the same parameters), patterns/s, the ratio, the torch calls each makes (what bounds
a GPU, where every call is a kernel launch) and their largest difference relative to each pattern's
maximum.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.overrides import TorchFunctionMode

from xicam_gisaxs_cnn.canonical import pixel_size_nm
from xicam_gisaxs_cnn_trainer.realistic.randomise import render_scaled, sample_scaled_parameters, scaled_exit_angles
from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig, simulate_angles


def one_call_per_scale(params: dict[str, torch.Tensor], *, config: SimulationConfig, device: str) -> torch.Tensor:
    """The baseline: each window scale's patterns in a call of their own, (N, 125, 125)."""
    scales = params["window_scale"]
    alpha_f, two_theta = scaled_exit_angles(params)
    images = torch.empty(alpha_f.shape, dtype=torch.float32, device=device)
    for scale in torch.unique(scales):
        group = torch.nonzero(scales == scale).flatten()
        chosen = {name: value[group] for name, value in params.items() if name != "window_scale"}
        images[group.to(device)] = simulate_angles(chosen, alpha_f_deg=alpha_f[group.numpy()],
                                                   two_theta_f_deg=two_theta[group.numpy()], config=config, device=device,
                                                   pixel_nm=pixel_size_nm()[0] / scales[group]).float()
    return images


def one_call(params: dict[str, torch.Tensor], *, config: SimulationConfig, device: str) -> torch.Tensor:
    """What the trainer does: :func:`render_scaled`, (N, 125, 125)."""
    return render_scaled(params, config=config, device=device)[0][:, 0]


class _CountCalls(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


def torch_calls(function, params, **kwargs) -> int:
    """Torch functions called by one run of ``function``."""
    with _CountCalls() as counter:
        function(params, **kwargs)
    return counter.calls


def timed(function, params, *, device: str, **kwargs) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    function(params, device=device, **kwargs)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="patterns per batch (the frames recipe's 128)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds, a new batch each")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.batch < 1 or args.rounds < 1:
        parser.error("--batch and --rounds must be >= 1")
    torch.set_num_threads(args.threads)
    config = SimulationConfig()
    if args.device.startswith("cuda"):  # as the trainer simulates on a GPU: the whole batch in one chunk
        config = SimulationConfig(chunk_size=args.batch)
    ways = {"one call per scale (baseline)": one_call_per_scale, "one call (render_scaled)": one_call}
    seconds = {name: [] for name in ways}
    difference = 0.0
    for round_ in range(args.rounds + 1):  # round 0 warms up
        generator = torch.Generator().manual_seed(round_)
        params = sample_scaled_parameters(torch.randint(7, (args.batch,), generator=generator), config=config,
                                          generator=generator)
        for name, function in ways.items():
            elapsed = timed(function, params, config=config, device=args.device)
            if round_:
                seconds[name].append(elapsed)
        if round_ == 1:
            scales = params["window_scale"].unique().numel()
            calls = {name: torch_calls(function, params, config=config, device=args.device) for name, function in ways.items()}
            baseline, single = (function(params, config=config, device=args.device) for function in ways.values())
            peak = baseline.flatten(1).amax(dim=1).clamp_min(1e-30)
            difference = float(((single - baseline).abs().flatten(1).amax(dim=1) / peak).max())
    print(f"{args.batch} patterns per batch ({scales} window scales in the first), {args.rounds} rounds, "
          f"{args.threads} thread(s), {args.device}, chunk {config.chunk_size}")
    reference = statistics.median(seconds["one call per scale (baseline)"])
    print(f"{'':32} {'s per batch':>12} {'patterns/s':>11} {'vs baseline':>12} {'torch calls':>12}")
    for name in ways:
        median = statistics.median(seconds[name])
        print(f"{name:32} {median:12.3f} {args.batch / median:11.1f} {reference / median:11.2f}x {calls[name]:12d}")
    print(f"largest difference, relative to each pattern's maximum: {difference:.1e}")


if __name__ == "__main__":
    main()
