"""``gisaxs-cnn average``: average a model's weights with a fine-tune of it (WiSE-FT) and calibrate the result."""
from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from xicam_gisaxs_cnn_trainer.average import get_args_parser

    parser = subparsers.add_parser(
        "average", help="average a model's weights with a fine-tune of it, then calibrate (WiSE-FT)",
        description=(
            "Write the bundle of (1 - w) * base + w * fine-tune, calibrated (temperature, OOD score) on the base's own "
            "training stream. Run calibrate-int8 (and, for detector frames, fit-ood-threshold) on it afterwards."
        ),
    )
    get_args_parser(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xicam_gisaxs_cnn_trainer.average import main

    print(f"bundle written to {main(args)}")
    return 0
