"""Throughput of the simulator and of one training step of each architecture on one device.

    python benchmarks/bench_gpu_throughput.py [--device cuda] [--patterns 1024]

Prints patterns/s of the simulator (grains, 1, 2 x 2 and 3 x 3 sub-pixels; powder films) and
images/s of a training step (batch 256, float16 autocast on CUDA, bfloat16 on the CPU) for the
compact default, AlexNet, VGG-16 and ResNet-50, and the ratio of each architecture to AlexNet.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from xicam_gisaxs_cnn.models import build_model
from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig, sample_parameters, simulate
from xicam_gisaxs_cnn_trainer.train import autocast


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def simulation_rate(config: SimulationConfig, patterns: int, device: str) -> float:
    """Patterns/s of :func:`simulate` for ``patterns`` patterns (after one warm-up run)."""
    params = sample_parameters(torch.arange(patterns) % 7, config, torch.Generator().manual_seed(1))
    simulate(params, config, device=device)
    synchronise(device)
    start = time.perf_counter()
    simulate(params, config, device=device)
    synchronise(device)
    return patterns / (time.perf_counter() - start)


def training_rate(architecture: str, device: str, *, batch: int = 256, steps: int = 5, amp: bool = True,
                  channels_last: bool = False) -> float:
    """Images/s of forward, backward and AdamW step on random inputs (3 warm-up steps).

    ``amp`` is the trainer's ``--amp`` (float16 on CUDA, bfloat16 on the CPU), ``channels_last``
    its ``--channels-last``.
    """
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(architecture).to(device, memory_format=memory_format).train()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    inputs = torch.randn(batch, 3, 125, 125, device=device).contiguous(memory_format=memory_format)
    labels = torch.randint(0, 7, (batch,), device=device)
    scaler = torch.amp.GradScaler(enabled=amp and device.startswith("cuda"))
    for step in range(3 + steps):
        if step == 3:
            synchronise(device)
            start = time.perf_counter()
        with autocast(torch.device(device), amp):
            loss = torch.nn.functional.cross_entropy(model(inputs).float(), labels)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    synchronise(device)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--patterns", type=int, default=1024, help="patterns per simulation run")
    args = parser.parse_args()
    chunk = 256 if args.device.startswith("cuda") else 32
    result: dict = {"device": args.device}
    for name, config in (
        ("grains_s1", SimulationConfig(in_plane="grains", chunk_size=chunk)),
        ("grains_s2", SimulationConfig(in_plane="grains", pixel_supersampling=2, chunk_size=chunk // 2)),
        ("grains_s3", SimulationConfig(in_plane="grains", pixel_supersampling=3, chunk_size=chunk // 4)),
        ("powder", SimulationConfig(chunk_size=chunk)),
    ):
        result[f"simulate_{name}_per_s"] = round(simulation_rate(config, args.patterns, args.device), 1)
        print(json.dumps(result), flush=True)
    rates = {arch: training_rate(arch, args.device) for arch in ("compact", "alexnet", "vgg16", "resnet50")}
    for arch, rate in rates.items():
        result[f"train_{arch}_per_s"] = round(rate, 1)
        result[f"train_{arch}_vs_alexnet"] = round(rate / rates["alexnet"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
