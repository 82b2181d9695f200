"""``gisaxs-cnn fit-ood-threshold``: set a model's OOD threshold on realistic detector frames."""
from __future__ import annotations

import argparse
import json

from .bundle_output import add_output_arguments, output_directory, refuse_overwrite
from .classify import smear_view_argument, window_scale_argument

THRESHOLD_FIT_FILE: str = "report/ood_threshold_fit.json"
"""Where the written bundle keeps the fit with every frame's score."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit-ood-threshold", help="set a model's OOD threshold where it flags 5%% of realistic superlattice frames",
        description=(
            "Write realistic detector frames of every class at every lattice constant (10-150 nm), classify them "
            "as 'gisaxs-cnn classify' does, and write the model again (same weights) with its OOD threshold at "
            "the quantile that flags --false-alarm of them, and with --test-time-smear if given. With --window-scale "
            "ensemble the same frames fit the ensemble temperature, which sharpens the scale-averaged probabilities "
            "of detector frames so that they say how often the label is right. The fit is recorded in the manifest "
            f"(ood.threshold_fit) and, with every score, in {THRESHOLD_FIT_FILE}."
        ),
    )
    parser.add_argument("--model", required=True, help="bundle name or directory whose threshold is set")
    add_output_arguments(parser)
    parser.add_argument("--per-class", type=int, default=2,
                        help="frames per class and lattice constant (default: 2, that is 70 frames; about 4.5 s each "
                             "on a Pilatus 1M with --window-scale ensemble)")
    parser.add_argument("--seed", type=int, default=424242,
                        help="frame i uses seed + i (default: 424242, disjoint from the evaluation report's 90210)")
    parser.add_argument("--lattice-constants", type=float, nargs="+", default=None, metavar="NM",
                        help="nearest-neighbour distances of the frames, nm (default: 10 20 50 100 150)")
    parser.add_argument("--false-alarm", type=float, default=0.05,
                        help="fraction of superlattice frames flagged at the threshold (default: 0.05)")
    parser.add_argument("--window-scale", default="ensemble", type=window_scale_argument, metavar="S|auto|confidence|ensemble",
                        help="as 'gisaxs-cnn classify --window-scale' (default: ensemble, classify's default for detector frames)")
    parser.add_argument("--test-time-smear", type=smear_view_argument, nargs="+", default=None, metavar="PX|QYxQZ",
                        help="classify each image as the mean over these Gaussian-smeared views (px, 0 = the image "
                             "itself, QYxQZ = px along qy and qz), fit the threshold so and write them into the bundle "
                             "(default: the model's own, manifest test_time_smear_px)")
    parser.add_argument("--detector", default="pilatus-1m", metavar="NAME",
                        help="detector of the frames: pilatus-1m (default), pilatus-2m or small (a test detector)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xicam_gisaxs_cnn.models import load_model
    from xicam_gisaxs_cnn_trainer.realistic.evaluate import DETECTORS, LATTICE_CONSTANTS_NM
    from xicam_gisaxs_cnn_trainer.realistic.threshold import fit_frame_threshold, save_with_threshold

    if args.detector not in DETECTORS:
        raise ValueError(f"--detector must be one of {', '.join(DETECTORS)}, got {args.detector!r}")
    output = output_directory(args)
    classifier = load_model(args.model, test_time_smear_px=args.test_time_smear)
    refuse_overwrite(output, classifier.bundle.path, "the new threshold")
    fit = fit_frame_threshold(classifier, per_class=args.per_class, seed=args.seed, false_alarm=args.false_alarm,
                              layout=DETECTORS[args.detector], window_scale=args.window_scale,
                              lattice_constants_nm=tuple(args.lattice_constants or LATTICE_CONSTANTS_NM))
    save_with_threshold(classifier, fit, output, name=args.name)
    (output / THRESHOLD_FIT_FILE).parent.mkdir(exist_ok=True)
    (output / THRESHOLD_FIT_FILE).write_text(json.dumps(fit, indent=1) + "\n")
    print(f"{fit['method']} threshold {fit['previous_threshold']:.4f} -> {fit['threshold']:.4f} "
          f"({fit['frames']} frames scored, {fit['refused']} refused, {fit['accuracy']:.1f}% labelled right)")
    if fit["ensemble_calibration"]:
        calibration = fit["ensemble_calibration"]
        print(f"ensemble temperature {classifier.ensemble_temperature:.4g} -> {fit['ensemble_temperature']:.4g}: "
              f"expected calibration error on these frames {calibration['ece_before_percent']:.1f}% untempered, "
              f"{calibration['ece_after_percent']:.1f}% tempered")
    print(f"bundle in {output}")
    return 0
