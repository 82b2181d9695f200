"""Training speed of each architecture with the trainer's --amp and --channels-last, vs float32, in one run.

    python benchmarks/bench_training_formats.py [--device cpu] [--batch 32] [--steps 3] [--arch resnet50 ...]

Prints images/s of one training step (forward, backward, AdamW) on random inputs in float32
with the default memory order (the baseline), with ``--amp`` (bfloat16 on the CPU, float16 on
CUDA), with ``--channels-last``, and with both, and each one's ratio to the baseline.
"""
from __future__ import annotations

import argparse
import json

import torch

from bench_gpu_throughput import training_rate

FORMATS = {"float32": (False, False), "amp": (True, False), "channels_last": (False, True), "amp_channels_last": (True, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per format, after 3 warm-up steps")
    parser.add_argument("--arch", nargs="+", default=["compact", "alexnet", "vgg16", "resnet50"])
    args = parser.parse_args()
    result: dict = {"device": args.device, "batch": args.batch, "threads": torch.get_num_threads(),
                    "cpu_capability": torch.backends.cpu.get_cpu_capability()}  # AVX2: bfloat16 emulated
    for arch in args.arch:
        rates = {name: training_rate(arch, args.device, batch=args.batch, steps=args.steps, amp=amp, channels_last=last)
                 for name, (amp, last) in FORMATS.items()}
        result[arch] = {**{f"{name}_per_s": round(rate, 1) for name, rate in rates.items()},
                        **{f"{name}_vs_float32": round(rate / rates["float32"], 2) for name, rate in rates.items() if name != "float32"}}
        print(json.dumps({arch: result[arch]}), flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
