"""The ``gisaxs-cnn`` command: one subcommand per module in this package."""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: tuple[str, ...] = (
    "demo",
    "train",
    "evaluate",
    "fit-ood-threshold",
    "calibrate-int8",
    "average",
    "ideal-observer",
    "simulate",
    "classify",
    "live",
    "classify-run",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="gisaxs-cnn",
        description="Classify nanoparticle superlattices in GISAXS frames with CNNs; simulate, train, evaluate.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gisaxs-cnn``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, ConnectionError) as error:
        print(f"gisaxs-cnn {args.command}: error: {error}", file=sys.stderr)
        return 2

