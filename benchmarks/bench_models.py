"""Inference speed of the default model vs the paper's AlexNet, measured in one run.

    python benchmarks/bench_models.py [--model default] [--threads 2] [--rounds 7] [--seconds 1] [--accuracy-per-class 50] [--as-avx2]

Prints images/s at batch 1, 64 and 256 for both, network only (the classifier's
inference network on preprocessed input) and with preprocessing (``Classifier.predict``
on raw intensities with the horizon mask: what a user pays per image), the ratio
(default / AlexNet), and the clean test accuracy of each bundle beside it (AlexNet:
an untrained network of the paper's layout unless --alexnet names a trained bundle).
The two models are timed back to back in each of several rounds; the ratio is the
median over rounds of the ratio within a round, so a slow moment of a shared machine
falls on both sides, and the images/s shown are each model's best round. The default runs
in its own precision (int8 convolutions on the CPU for a calibrated bundle, as the shipped one
is); the same bundle in float32 (``default_float32``) and, network only, its trained module
before the inference folds (``default_unfolded``) are timed beside it, each with its ratio.
``--as-avx2`` runs the whole benchmark as on a CPU with AVX2 and no AVX-512: PyTorch, oneDNN,
FBGEMM, MKL and numba are each told by their own environment variable to use no newer
instructions (int8 products then go through AVX2's saturating 16-bit pair sums).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from xicam_gisaxs_cnn.canonical import horizon_mask
from xicam_gisaxs_cnn.models import Classifier, build_model, load_model
from xicam_gisaxs_cnn.models.bundle import Bundle
from xicam_gisaxs_cnn.models.int8 import AVX2_ENVIRONMENT
from xicam_gisaxs_cnn.preprocess import model_input_torch

BATCHES = (1, 64, 256)


def images_per_second(step: Callable[[], object], batch: int, seconds: float) -> float:
    """Throughput of ``step`` (one call classifies ``batch`` images) over about ``seconds``."""
    with torch.inference_mode():
        step()  # warm-up
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            step()
            done += batch
    return done / (time.perf_counter() - start)


def timed_steps(classifier: Classifier, batch: int, preprocess: bool,
                network: torch.nn.Module | None = None) -> Callable[[], object]:
    """One classification of a random canonical batch, from raw intensities or from model input.

    ``network`` replaces the classifier's inference network when timing model input.
    """
    images = (np.random.default_rng(batch).random((batch, 125, 125)) * 100).astype(np.float32)
    if preprocess:
        masks = np.broadcast_to(horizon_mask(), images.shape)
        return lambda: classifier.predict(images, masks)
    inputs, network = model_input_torch(torch.from_numpy(images)[:, None]), network or classifier.network
    return lambda: network(inputs)


def paired_rates(steps: dict[str, Callable[[], object]], batch: int, rounds: int, seconds: float) -> dict[str, np.ndarray]:
    """images/s of each step in each of ``rounds`` rounds; within a round the steps run back to back."""
    rates = {name: np.zeros(rounds) for name in steps}
    for index in range(rounds):
        for name, step in steps.items():
            rates[name][index] = images_per_second(step, batch, seconds)
    return rates


def clean_accuracy(classifier, per_class: int) -> float:
    """Accuracy (%) on fresh clean simulated patterns (seed disjoint from training)."""
    from xicam_gisaxs_cnn_trainer.evaluation.report import simulate_test_set

    test = simulate_test_set(per_class, seed=4242)
    images = test.images[:, 0].numpy()
    predicted = classifier.predict(images, np.broadcast_to(horizon_mask(), images.shape)).class_indices
    return 100.0 * float(np.mean(predicted == test.labels.numpy()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle name or path (default: shipped default)")
    parser.add_argument("--alexnet", default=None, help="trained AlexNet bundle, for its accuracy")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds (default: 7)")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per model per round, s (default: 1)")
    parser.add_argument("--accuracy-per-class", type=int, default=50, help="0 skips the accuracy column")
    parser.add_argument("--as-avx2", action="store_true", help="use no instructions newer than AVX2 (no AVX-512, no VNNI)")
    args = parser.parse_args()
    if args.as_avx2 and any(os.environ.get(name) != value for name, value in AVX2_ENVIRONMENT.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AVX2_ENVIRONMENT})
    torch.set_num_threads(args.threads)
    default = load_model(args.model)
    default_float32 = load_model(args.model, precision="float32")
    alexnet_bundle = load_model(args.alexnet) if args.alexnet else None
    alexnet = alexnet_bundle or Classifier(Bundle(build_model("alexnet").eval(), {"name": "alexnet"}, Path(".")))
    results = {"threads": args.threads, "rounds": args.rounds, "default_precision": default.precision,
               "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "instruction_set_environment": {name: os.environ[name] for name in AVX2_ENVIRONMENT if name in os.environ},
               "batches": {}}
    for preprocess in (False, True):
        label = "with preprocessing" if preprocess else "network only"
        for batch in BATCHES:
            steps = {"default": timed_steps(default, batch, preprocess), "alexnet": timed_steps(alexnet, batch, preprocess),
                     "default_float32": timed_steps(default_float32, batch, preprocess)}
            if not preprocess:
                steps["default_unfolded"] = timed_steps(default, batch, preprocess, network=default.model)
            rates = paired_rates(steps, batch, args.rounds, args.seconds)
            ratios = {name: rates[name] / rates["alexnet"] for name in steps if name != "alexnet"}
            best = {name: float(values.max()) for name, values in rates.items()}
            results["batches"][f"{batch} {label}"] = {
                **{f"{name}_images_per_s": round(rate, 1) for name, rate in best.items()},
                **{("ratio" if name == "default" else f"{name}_ratio"): round(float(np.median(values)), 2)
                   for name, values in ratios.items()},
                "ratio_range": [round(float(r), 2) for r in np.percentile(ratios["default"], [0, 100])]}
            others = "   ".join(f"{name} {best[name]:8.1f} ({float(np.median(ratios[name])):5.2f}x)"
                               for name in steps if name not in ("default", "alexnet"))
            print(f"batch {batch:>3} {label:<18}: default ({default.precision}) {best['default']:8.1f} img/s   "
                  f"alexnet {best['alexnet']:8.1f} img/s   ratio {float(np.median(ratios['default'])):5.2f}x   {others}")
    if args.accuracy_per_class:
        results["default_clean_accuracy"] = round(clean_accuracy(default, args.accuracy_per_class), 2)
        results["default_float32_clean_accuracy"] = round(clean_accuracy(default_float32, args.accuracy_per_class), 2)
        print(f"clean accuracy: default {results['default_clean_accuracy']:.2f}% "
              f"(float32 {results['default_float32_clean_accuracy']:.2f}%)", end="")
        if alexnet_bundle:
            results["alexnet_clean_accuracy"] = round(clean_accuracy(alexnet_bundle, args.accuracy_per_class), 2)
            print(f"   alexnet {results['alexnet_clean_accuracy']:.2f}%", end="")
        print()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
