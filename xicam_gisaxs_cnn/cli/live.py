"""``gisaxs-cnn live``: classify runs arriving over bluesky's 0MQ proxy into the tiled catalog.

In the RunEngine's process::

    from bluesky.callbacks.zmq import Publisher
    RE.subscribe(Publisher("localhost:5577"))

with ``bluesky-0MQ-proxy 5577 5578`` running, then ``gisaxs-cnn live --zmq localhost:5578``.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from ..models.registry import DETECTOR_FRAME_MODEL_NAME
from .classify import add_geometry_arguments, geometry_values

logger = logging.getLogger(__name__)


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """Catalog, model, stream and batching options shared by live and classify-run."""
    parser.add_argument("--catalog", metavar="DIR|URI",
                        help="catalog directory (embedded) or tiled server URI (default: $GISAXS_CNN_CATALOG "
                             "or the user data dir)")
    parser.add_argument("--api-key", help="API key of a tiled server (default: $TILED_API_KEY)")
    parser.add_argument("--model", metavar="NAME|PATH",
                        help="model bundle name or directory (default, per run: the shipped "
                             f"{DETECTOR_FRAME_MODEL_NAME!r} model for runs with a detector geometry, the shipped "
                             "'default' for runs of canonical 125 x 125 images)")
    parser.add_argument("--stream", default="primary", help="raw stream holding the frames (default primary)")
    parser.add_argument("--field", help="image field (default: the first 2-D field of the stream)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="frames per model call and analysis events per catalog write (default 32); "
                             "labels reach the catalog every BATCH_SIZE frames and at the end of a run")
    add_geometry_arguments(parser)


def live_classifier(args: argparse.Namespace, output):
    """The :class:`~xicam_gisaxs_cnn.live.LiveClassifier` the options describe."""
    from ..frames import geometry_from_mapping
    from ..live import LiveClassifier
    from ..models import load_model

    values = geometry_values(args)
    geometry = geometry_from_mapping(values) if values else None
    classifier = (load_model(args.model, test_time_smear_px=args.test_time_smear, precision=args.precision)
                  if args.model else None)
    return LiveClassifier(
        output, classifier=classifier, geometry=geometry, stream=args.stream, field=args.field,
        window_scale=args.window_scale, beam_stop_px=tuple(args.beam_stop_px) if args.beam_stop_px else None,
        test_time_smear_px=None if classifier is not None else args.test_time_smear,
        precision=None if classifier is not None else args.precision,
        fold=args.fold, batch_size=args.batch_size,
    )


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "live", help="classify runs live from a 0MQ proxy into the catalog",
        description="Receive documents from a RunEngine in another process through bluesky's 0MQ proxy, "
                    "store each raw run and an analysis run (label, probabilities, OOD score per frame) "
                    "in the tiled catalog.",
    )
    parser.add_argument("--zmq", default="localhost:5578", metavar="HOST:PORT",
                        help="the proxy's output address (default localhost:5578)")
    parser.add_argument("--no-raw", action="store_true",
                        help="store only the analysis runs (the raw runs are written by another process)")
    parser.add_argument("--max-runs", type=int, help="exit after this many raw runs have stopped")
    parser.add_argument("--timeout", type=float, help="exit after this many seconds")
    add_live_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bluesky.callbacks.zmq import RemoteDispatcher

    from ..live import open_catalog, tiled_writer

    client = open_catalog(args.catalog, api_key=args.api_key)
    analysis_writer = tiled_writer(client, batch_size=args.batch_size)
    live = live_classifier(args, analysis_writer)
    dispatcher = RemoteDispatcher(args.zmq)
    stopped = 0

    def stop_all() -> None:
        for task in asyncio.all_tasks(dispatcher.loop):
            task.cancel()

    if not args.no_raw:
        raw_writer = tiled_writer(client, batch_size=args.batch_size)
        dispatcher.subscribe(_guarded(raw_writer))
    dispatcher.subscribe(live)

    def count_stops(name, doc):
        nonlocal stopped
        if name == "stop":
            stopped += 1
            print(f"run {doc['run_start']} stopped ({stopped})", flush=True)
            if args.max_runs is not None and stopped >= args.max_runs:
                dispatcher.loop.call_soon(stop_all)

    dispatcher.subscribe(count_stops)
    if args.timeout is not None:
        dispatcher.loop.call_later(args.timeout, stop_all)
    where = args.catalog or "the default catalog"
    dispatcher.loop.call_soon(lambda: print(f"listening on {args.zmq}, writing to {where}", flush=True))
    try:
        dispatcher.start()
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass
    live.close()
    print(f"{live.counts['results']} frames classified, {live.counts['errors']} errors, "
          f"{len(live.output_errors)} write failures", flush=True)
    return 0 if not live.output_errors else 1


def _guarded(writer):
    """A raw-run writer whose failures are logged, so they never stop the live classification."""

    def write(name, doc):
        try:
            writer(name, doc)
        except Exception:
            logger.exception("storing the raw %s document failed", name)
            print(f"storing the raw {name} document failed", file=sys.stderr, flush=True)

    return write
