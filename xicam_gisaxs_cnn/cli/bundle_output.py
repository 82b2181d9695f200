"""Where a command that writes a bundle again (same weights) puts it: ``--output DIR`` or ``--name``."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--output`` (a bundle directory) and ``--name`` (a bundle in the user model directory)."""
    parser.add_argument("--output", help="bundle directory to write (instead of --name)")
    parser.add_argument("--name", help="bundle name in the user model directory")


def output_directory(args: argparse.Namespace) -> Path:
    """The directory ``--output`` or ``--name`` names; ValueError when neither is given."""
    from xicam_gisaxs_cnn.models import user_model_dir

    if not (args.output or args.name):
        raise ValueError("give --name (bundle in the user model directory) or --output DIR")
    return Path(args.output) if args.output else user_model_dir() / args.name


def refuse_overwrite(output: Path, source: Path, what: str) -> None:
    """ValueError when ``output`` is the bundle ``source`` being read; ``what`` says what to write elsewhere."""
    if output.resolve() == source.resolve():
        raise ValueError(f"--output {output} is the bundle being read; write {what} to another directory")
