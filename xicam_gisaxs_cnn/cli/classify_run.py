"""``gisaxs-cnn classify-run UID``: classify a stored run and store its analysis run beside it."""
from __future__ import annotations

import argparse
import json
import math

from .live import add_live_arguments, live_classifier


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify-run", help="classify a run stored in the catalog",
        description="Replay a stored raw run's frames through the live classifier and store the analysis run "
                    "(searchable by start.raw_uid) in the same catalog.",
    )
    parser.add_argument("uid", help="raw run uid (or a unique prefix the catalog accepts)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per frame")
    add_live_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..live import open_catalog, replay_run, tiled_writer

    client = open_catalog(args.catalog, api_key=args.api_key)
    if args.uid not in client:
        raise ValueError(f"no run {args.uid!r} in the catalog {args.catalog or ''}".rstrip())
    writer = tiled_writer(client, batch_size=args.batch_size)
    records = []

    def output(name, doc):
        writer(name, doc)
        if name == "start":
            records.append(("start", doc["uid"]))
        elif name == "event":
            records.append(("event", doc["data"]))

    live = live_classifier(args, output)
    replay_run(client[args.uid], live, stream=args.stream, field=args.field)
    live.close()
    analysis_uid = next((value for kind, value in records if kind == "start"), None)
    events = [value for kind, value in records if kind == "event"]
    for data in events:
        if args.json:
            print(json.dumps({key: _plain(value) for key, value in data.items()}))
        else:
            scale = f"{data['window_scale']:6.3g}" if math.isfinite(data["window_scale"]) else f"{'-':>6}"
            flag = "OOD" if data["ood_flag"] else "-"
            print(f"{data['raw_seq_num']:>6} {data['label'] or '-':<8} {flag:<4} {scale} {data['error']}")
    errors = sum(bool(data["error"]) for data in events)
    print(f"analysis run {analysis_uid} of raw run {args.uid}: {len(events)} frames, {errors} errors"
          f"{', ' + str(len(live.output_errors)) + ' write failures' if live.output_errors else ''}")
    return 1 if live.output_errors or analysis_uid is None else 0


def _plain(value):
    """A JSON-ready value: arrays as lists, NaN as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value != value:
        return None
    return value
