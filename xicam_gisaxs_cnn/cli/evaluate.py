"""``gisaxs-cnn evaluate``: the paper's tables and figures for a model, with a markdown report."""
from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="reproduce the paper's tables and figures on a held-out simulated set",
        description="Tables II and III, cross-noise, confusion matrix, PCA, accuracy vs repetitions, calibration, "
                    "OOD detection: metrics.json, PNG plots and report.md in --output.",
    )
    parser.add_argument("--model", help="bundle name or directory (default: the shipped default)")
    parser.add_argument("--output", required=True, help="report folder")
    parser.add_argument("--per-class", type=int, default=200, help="test patterns per class (default: 200)")
    parser.add_argument("--seed", type=int, default=90210, help="test-set seed, disjoint from training seeds")
    parser.add_argument("--dedicated", action="append", default=[], metavar="SPEC=MODEL",
                        help="a per-degradation model as in the paper, e.g. gaussian:1=paper-gaussian-1 (repeatable)")
    parser.add_argument("--clean-model", help="model trained on clean data, for the cross-noise test")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xicam_gisaxs_cnn.models import load_model
    from xicam_gisaxs_cnn_trainer.degradation import Degradation
    from xicam_gisaxs_cnn_trainer.evaluation.report import run_evaluation

    if args.per_class < 1:
        raise ValueError(f"--per-class must be >= 1, got {args.per_class}")
    dedicated = {}
    for item in args.dedicated:
        spec, separator, model = item.partition("=")
        if not separator:
            raise ValueError(f"--dedicated takes SPEC=MODEL, got {item!r}")
        dedicated[Degradation.parse(spec).spec] = load_model(model)
    metrics = run_evaluation(
        load_model(args.model), args.output, per_class=args.per_class, seed=args.seed,
        dedicated=dedicated or None, clean_model=load_model(args.clean_model) if args.clean_model else None,
    )
    print(f"clean accuracy {metrics['robust_model_test']['clean']:.2f}%; report in {args.output}/report.md")
    return 0
