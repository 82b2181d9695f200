"""Inference speed of the default model vs the paper's AlexNet, measured in one run.

    python benchmarks/bench_models.py [--model default] [--threads 2] [--accuracy-per-class 50]

Prints images/s at batch 1, 64 and 256 for both, network only and with the
preprocessing every prediction pays, the ratio (default / AlexNet),
and the clean test accuracy of each bundle beside it (AlexNet: an untrained
network of the paper's layout unless --alexnet names a trained bundle).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from xicam_gisaxs_cnn.models import build_model, load_model
from xicam_gisaxs_cnn.preprocess import model_input_torch


def images_per_second(model: torch.nn.Module, batch: int, *, preprocess: bool, seconds: float = 3.0) -> float:
    """Throughput of ``model`` on random canonical batches of size ``batch``, with or without preprocessing."""
    images = torch.rand(batch, 1, 125, 125) * 100
    inputs = model_input_torch(images)
    step = (lambda: model(model_input_torch(images))) if preprocess else (lambda: model(inputs))
    with torch.inference_mode():
        step()  # warm-up
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            step()
            done += batch
    return done / (time.perf_counter() - start)


def clean_accuracy(classifier, per_class: int) -> float:
    """Accuracy (%) on fresh clean simulated patterns (seed disjoint from training)."""
    from xicam_gisaxs_cnn.canonical import horizon_mask
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
    parser.add_argument("--accuracy-per-class", type=int, default=50, help="0 skips the accuracy column")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    default = load_model(args.model)
    alexnet_bundle = load_model(args.alexnet) if args.alexnet else None
    alexnet = alexnet_bundle.model if alexnet_bundle else build_model("alexnet").eval()
    results = {"threads": args.threads, "batches": {}}
    for preprocess in (False, True):
        label = "with preprocessing" if preprocess else "network only"
        for batch in (1, 64, 256):
            ours = images_per_second(default.model, batch, preprocess=preprocess)
            theirs = images_per_second(alexnet, batch, preprocess=preprocess)
            results["batches"][f"{batch} {label}"] = {"default_images_per_s": round(ours, 1),
                                                      "alexnet_images_per_s": round(theirs, 1), "ratio": round(ours / theirs, 2)}
            print(f"batch {batch:>3} {label:<18}: default {ours:8.1f} img/s   alexnet {theirs:8.1f} img/s   "
                  f"ratio {ours / theirs:5.2f}x")
    if args.accuracy_per_class:
        results["default_clean_accuracy"] = round(clean_accuracy(default, args.accuracy_per_class), 2)
        print(f"clean accuracy: default {results['default_clean_accuracy']:.2f}%", end="")
        if alexnet_bundle:
            results["alexnet_clean_accuracy"] = round(clean_accuracy(alexnet_bundle, args.accuracy_per_class), 2)
            print(f"   alexnet {results['alexnet_clean_accuracy']:.2f}%", end="")
        print()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
