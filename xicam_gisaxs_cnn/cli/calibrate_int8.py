"""``gisaxs-cnn calibrate-int8``: calibrate a compact model's int8 convolutions for the CPU."""
from __future__ import annotations

import argparse

from .bundle_output import add_output_arguments, output_directory, refuse_overwrite


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate-int8", help="calibrate a compact model's int8 convolutions (a faster predict on the CPU)",
        description=(
            "Simulate canonical patterns of every class as the model was trained on (clean and through the "
            "degradation mixture), measure the ranges of its activations, compare float32 and int8 on a held-out "
            "set under several degradations, and write the model again (same weights) with the calibration in its "
            "manifest (int8). Such a bundle runs int8 on the CPU unless told --precision float32."
        ),
    )
    parser.add_argument("--model", required=True, help="bundle name or directory (architecture compact)")
    add_output_arguments(parser)
    parser.add_argument("--per-class", type=int, default=40,
                        help="calibration patterns per class, each clean and degraded (default: 40, 560 in all)")
    parser.add_argument("--seed", type=int, default=777, help="calibration seed (default: 777)")
    parser.add_argument("--test-per-class", type=int, default=100,
                        help="held-out patterns per class for the comparison (default: 100)")
    parser.add_argument("--test-seed", type=int, default=31337, help="held-out seed (default: 31337)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xicam_gisaxs_cnn.models import load_model
    from xicam_gisaxs_cnn_trainer.int8 import calibrate_bundle, save_with_int8

    output = output_directory(args)
    classifier = load_model(args.model)
    refuse_overwrite(output, classifier.bundle.path, "the calibrated model")
    record = calibrate_bundle(classifier, per_class=args.per_class, seed=args.seed, test_per_class=args.test_per_class,
                              test_seed=args.test_seed)
    save_with_int8(classifier, record, output, name=args.name)
    print(f"{'degradation':<16} {'float32 (%)':>11} {'int8 (%)':>9} {'same label (%)':>15}")
    for spec, row in record["measured"]["degradations"].items():
        print(f"{spec:<16} {row['float32_percent']:>11.2f} {row['int8_percent']:>9.2f} {row['same_label_percent']:>15.2f}")
    print(f"bundle in {output}")
    return 0
