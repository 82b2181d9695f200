"""``gisaxs-cnn evaluate``: the paper's tables and figures for a model, with a markdown report.

``--realistic N`` adds the realistic-detector-frame evaluation (frames written to
detector files and classified as ``gisaxs-cnn classify`` does).
"""
from __future__ import annotations

import argparse

from ..models.classifier import PRECISIONS
from .classify import window_scale_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="reproduce the paper's tables and figures on a held-out simulated set",
        description="Tables II and III, cross-noise, confusion matrix, PCA, accuracy vs repetitions, calibration, "
                    "OOD detection: metrics.json, PNG plots and report.md in --output. With --realistic N, also "
                    "accuracy on realistic detector frames through the file path (section 'Realistic detector frames').",
    )
    parser.add_argument("--model", help="bundle name or directory (default: the shipped default)")
    parser.add_argument("--output", required=True, help="report folder")
    parser.add_argument("--per-class", type=int, default=200, help="test patterns per class (default: 200)")
    parser.add_argument("--seed", type=int, default=90210, help="test-set seed, disjoint from training seeds")
    parser.add_argument("--dedicated", action="append", default=[], metavar="SPEC=MODEL",
                        help="a per-degradation model as in the paper, e.g. gaussian:1=paper-gaussian-1 (repeatable)")
    parser.add_argument("--clean-model", help="model trained on clean data, for the cross-noise test")
    parser.add_argument("--baselines-from", metavar="METRICS_JSON",
                        help="take the dedicated and clean models' figures from an earlier report's metrics.json "
                             "instead of --dedicated and --clean-model (it must share --per-class, --seed and the "
                             "simulator settings: the same test set)")
    parser.add_argument("--realistic", type=int, default=0, metavar="N",
                        help="also write N realistic detector frames per class and lattice constant (10, 20, 50, 100, "
                             "150 nm) and N per lattice constant of each film of no class (disordered, empty, monolayer) "
                             "to files and classify them as 'gisaxs-cnn classify' does: 50 x N frames. Costs about 2.5 s "
                             "of one CPU core per Pilatus 1M frame (N=1: about 2 min), about 12 s per Pilatus 2M frame. "
                             "Default 0: skip")
    parser.add_argument("--realistic-detector", default="pilatus-1m", metavar="NAME",
                        help="detector of the realistic frames: pilatus-1m (default), pilatus-2m, or small "
                             "(a 256 x 240 px test detector, about 0.3 s a frame; it sees little of the q window, so "
                             "many frames are refused: a check of the path, not a measure of the model)")
    parser.add_argument("--realistic-window-scale", default="ensemble", type=window_scale_argument,
                        metavar="S|auto|confidence|ensemble",
                        help="how the realistic frames' window scale is chosen, as 'gisaxs-cnn classify --window-scale' "
                             "(default: ensemble)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="run the evaluated model in float32 or int8 (default: its own; recorded in the report)")
    parser.add_argument("--device", default="cpu",
                        help="where test patterns are simulated and the models run: cpu (default) or cuda")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xicam_gisaxs_cnn.models import load_model
    from xicam_gisaxs_cnn_trainer.degradation import Degradation
    from xicam_gisaxs_cnn_trainer.evaluation.report import run_evaluation
    from xicam_gisaxs_cnn_trainer.realistic.evaluate import DETECTORS

    if args.per_class < 1:
        raise ValueError(f"--per-class must be >= 1, got {args.per_class}")
    if args.realistic < 0:
        raise ValueError(f"--realistic must be >= 0, got {args.realistic}")
    if args.realistic_detector not in DETECTORS:
        raise ValueError(f"--realistic-detector must be one of {', '.join(DETECTORS)}, got {args.realistic_detector!r}")
    dedicated = {}
    for item in args.dedicated:
        spec, separator, model = item.partition("=")
        if not separator:
            raise ValueError(f"--dedicated takes SPEC=MODEL, got {item!r}")
        dedicated[Degradation.parse(spec).spec] = load_model(model, device=args.device)
    metrics = run_evaluation(
        load_model(args.model, device=args.device, precision=args.precision), args.output, per_class=args.per_class,
        seed=args.seed,
        dedicated=dedicated or None,
        clean_model=load_model(args.clean_model, device=args.device) if args.clean_model else None,
        baselines_from=args.baselines_from, realistic_per_class=args.realistic, realistic_layout=DETECTORS[args.realistic_detector],
        realistic_window_scale=args.realistic_window_scale, device=args.device,
    )
    realistic = metrics.get("realistic")
    if realistic:
        print(f"realistic frames: accuracy {realistic['accuracy']:.2f}%, HCP0001 recall {100 * realistic['hcp_recall']:.1f}%")
    print(f"clean accuracy {metrics['robust_model_test']['clean']:.2f}%; report in {args.output}/report.md")
    return 0
