"""Training time from nothing to the paper's clean accuracy (98.12%), simulation included.

    python benchmarks/bench_training_time.py [--minutes 30] [--arch compact] [--workers 2] [--echo N] [--output DIR]

Trains a fresh model on clean on-the-fly simulations (``gisaxs-cnn train --degradation
clean --time-budget MINUTES``: the one-cycle schedule is fitted to the epochs that fit),
then tests it on the report's held-out clean set (seed 90210). ``--echo N`` trains on each
simulated epoch N times (data echoing, ``gisaxs-cnn train --echo``). Prints the wall time
(start of training to bundle written) against the budget, the held-out accuracy against
the paper's 98.12%, and the accuracy after each epoch, and writes them as JSON beside
the bundle (``DIR/training_time.json``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from xicam_gisaxs_cnn.models import load_model
from xicam_gisaxs_cnn_trainer import train
from xicam_gisaxs_cnn_trainer.evaluation import paper
from xicam_gisaxs_cnn_trainer.evaluation.report import evaluate_model, simulate_test_set


def held_out_accuracy(bundle: Path, per_class: int, seed: int = 90210) -> float:
    """Clean accuracy (%) of a bundle on the evaluation report's held-out set."""
    return evaluate_model(load_model(bundle), simulate_test_set(per_class, seed=seed), ["clean"], seed=seed)["clean"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="time budget of the training (default: 30)")
    parser.add_argument("--arch", default="compact")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches-per-epoch", type=int, default=150)
    parser.add_argument("--validation-batches", type=int, default=4, help="per epoch, simulated by the training process")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--workers", type=int, default=2, help="simulating processes beside the training one")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    parser.add_argument("--echo", type=int, default=1, help="epochs trained on each simulated epoch (default: 1)")
    parser.add_argument("--per-class", type=int, default=200, help="held-out test patterns per class")
    parser.add_argument("--seed", type=int, default=2611)
    parser.add_argument("--output", default="bench-training-time", help="bundle directory")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    training = train.get_args_parser().parse_args([
        "--arch", args.arch, "--degradation", "clean", "--device", "cpu", "--epochs", "1000",
        "--time-budget", str(args.minutes), "--batch-size", str(args.batch_size),
        "--batches-per-epoch", str(args.batches_per_epoch), "--validation-batches", str(args.validation_batches), "--lr", str(args.lr),
        "--workers", str(args.workers), "--seed", str(args.seed), "--output", args.output, "--echo", str(args.echo), "--quiet",
    ])
    start = time.perf_counter()
    bundle = train.main(training)
    minutes = (time.perf_counter() - start) / 60
    accuracy = held_out_accuracy(bundle, args.per_class)
    log = json.loads((bundle / "manifest.json").read_text())["training"]["log"]
    target = paper.TABLE_II["clean"][1]
    result = {"minutes": round(minutes, 2), "budget_minutes": args.minutes, "held_out_clean_accuracy": round(accuracy, 2),
              "paper_accuracy": target, "reached_paper": accuracy >= target, "epochs": len(log),
              "patterns": len(log) * args.batch_size * args.batches_per_epoch, "echoes": args.echo,
              "simulated_patterns": -(-len(log) // args.echo) * args.batch_size * args.batches_per_epoch, "threads": args.threads,
              "workers": args.workers, "validation_by_epoch": [round(100 * e["validation_accuracy"], 2) for e in log]}
    print(f"trained {result['patterns']} patterns ({result['simulated_patterns']} simulated) in {minutes:.1f} min (budget {args.minutes:g}, "
          f"{minutes / args.minutes:.2f}x); held-out clean accuracy {accuracy:.2f}% vs the paper's {target:.2f}% "
          f"({accuracy - target:+.2f} points)")
    print("validation accuracy by epoch (%):", result["validation_by_epoch"])
    (bundle / "training_time.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
