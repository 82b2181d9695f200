"""``gisaxs-cnn train``: train a model and drop its bundle where the plugin finds it."""
from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from xicam_gisaxs_cnn_trainer.train import get_args_parser

    parser = subparsers.add_parser(
        "train", help="train a classifier on simulations, shards or HipGISAXS outputs",
        description="Train any architecture; write a weight bundle into the user model directory (or --output).",
    )
    get_args_parser(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from xicam_gisaxs_cnn_trainer.train import main

    print(f"bundle written to {main(args)}")
    return 0
