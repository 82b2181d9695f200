"""``gisaxs-cnn demo``: simulate, degrade, classify with the shipped model, print a table, write a montage;
then classify a few realistic detector frames through the file path (:mod:`.demo_frames`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .demo_frames import classify_demo_frames


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="simulate a few patterns per class, degrade, classify, print a table, write a montage",
        description="End-to-end demo with embedded defaults: nothing to start, no files needed.",
    )
    parser.add_argument("--per-class", type=int, default=2, help="patterns per class (default: 2)")
    parser.add_argument("--degradations", default="clean,smear:1.0,gaussian:0.5,poisson:1e5,rescale:25",
                        help="comma-separated degradation specs, cycled over the patterns")
    parser.add_argument("--model", help="bundle name or directory (default: the shipped default)")
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--output", default="demo_output/montage.png", help="PNG montage path")
    parser.add_argument("--frames", type=int, default=3,
                        help="realistic Pilatus 1M frames of 50-150 nm lattices to write and classify as "
                             "`gisaxs-cnn classify` does (default: 3; 0 skips them)")
    parser.add_argument("--frames-output", default="demo_output/frames",
                        help="folder for those frames and their picture, frames.png")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from xicam_gisaxs_cnn.canonical import horizon_mask
    from xicam_gisaxs_cnn.classes import CLASS_NAMES, NUM_CLASSES
    from xicam_gisaxs_cnn.models import load_model
    from xicam_gisaxs_cnn.plotting import montage
    from xicam_gisaxs_cnn_trainer.degradation import Degradation
    from xicam_gisaxs_cnn_trainer.simulation import SimulationConfig, sample_parameters, simulate

    if args.per_class < 1:
        raise ValueError(f"--per-class must be >= 1, got {args.per_class}")
    if args.frames < 0:
        raise ValueError(f"--frames must be >= 0, got {args.frames}")
    degradations = [Degradation.parse(spec) for spec in args.degradations.split(",")]
    classifier = load_model(args.model)
    generator = torch.Generator().manual_seed(args.seed)
    labels = torch.arange(NUM_CLASSES).repeat(args.per_class)  # one row of the montage per repeat
    config = SimulationConfig()
    clean = simulate(sample_parameters(labels, config, generator), config=config)[:, None]
    chosen = [degradations[index % len(degradations)] for index in range(labels.numel())]
    images = torch.cat([chosen[i](clean[i:i + 1].double(), generator).float() for i in range(labels.numel())])[:, 0]
    prediction = classifier.predict(images.numpy(), np.broadcast_to(horizon_mask(), images.shape))
    print(f"model: {classifier.name} (sha256 {classifier.sha256[:12]})")
    header = f"{'#':>3}  {'true':<8} {'degradation':<14} {'predicted':<9} {'p(pred)':>7} {'p(true)':>7} {'OOD':>6}  ok"
    print(header)
    print("-" * len(header))
    titles, colors = [], []
    for index, label in enumerate(labels.tolist()):
        predicted = prediction.class_indices[index]
        correct = predicted == label
        print(f"{index:>3}  {CLASS_NAMES[label]:<8} {chosen[index].spec:<14} {CLASS_NAMES[predicted]:<9} "
              f"{prediction.probabilities[index, predicted]:>7.3f} {prediction.probabilities[index, label]:>7.3f} "
              f"{prediction.ood_scores[index]:>6.2f}  {'yes' if correct else 'NO'}")
        titles.append(f"{CLASS_NAMES[label]} [{chosen[index].spec}]\n-> {CLASS_NAMES[predicted]} "
                      f"{prediction.probabilities[index, predicted]:.2f}")
        colors.append("darkgreen" if correct else "red")
    correct = int((prediction.class_indices == labels.numpy()).sum())
    print(f"accuracy: {correct}/{labels.numel()} = {correct / labels.numel():.1%}")
    path = montage(list(images.numpy()), titles, Path(args.output), columns=NUM_CLASSES, title_colors=colors)
    print(f"montage written to {path}")
    if args.frames:
        folder = Path(args.frames_output)
        classify_demo_frames(args.frames, seed=args.seed, folder=folder, picture=folder / "frames.png")
    return 0
