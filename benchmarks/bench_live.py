"""Live classification throughput and latency, event -> analysis event stored in a tiled catalog.

    python benchmarks/bench_live.py [--frames-1m 300] [--frames-125 1000] [--rate-1m 100] [--naive 20] \
        [--window-scale 1|ensemble|...] [--test-time-smear 0]

For canonical 125x125 frames and Pilatus 1M frames (1043 x 981, resampled with a
real geometry) it feeds raw event documents into a LiveClassifier whose output is
a TiledWriter into a fresh embedded catalog, and reports

* capacity: frames/s when events arrive as fast as they can be composed,
* sustained: with events paced at ``--rate-*`` Hz, frames/s (first event to last
  analysis event stored, so the last batch's latency counts), the rate the catalog
  receives analysis events between its first and last write (``stored_per_s``: the
  paced rate when the pipeline keeps up), the largest backlog of queued documents
  seen, and the per-event latency (median, p99) from the event's time to the moment
  its analysis event is written to the catalog,
* naive: the same frames classified and written one event at a time
  (TiledWriter batch_size=1, same analysis event) in the producer's thread,
* lost: raw events without exactly one analysis event in the catalog (read back),

and, to show where the time goes, the model's ms per image (batches of ``--batch-size``)
and the resampling's ms per Pilatus 1M frame, with the machine's load average.
Pilatus 1M frames are classified at ``--window-scale`` (default 1, a fixed scale; ``ensemble``
is what ``gisaxs-cnn live`` uses on detector frames when no scale is given); canonical frames
always at 1.

Writes the numbers as JSON to ``--out`` (default benchmarks/results/live.json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from event_model import compose_run
from tiled.queries import Key

from xicam_gisaxs_cnn.cli.classify import smear_view_argument
from xicam_gisaxs_cnn.frames import DetectorGeometry, classify_frames
from xicam_gisaxs_cnn.frames.scale import parse_window_scale
from xicam_gisaxs_cnn.live import ANALYSIS_DATA_KEYS, GEOMETRY_KEY, PROBABILITY_KEYS, LiveClassifier, open_catalog, tiled_writer
from xicam_gisaxs_cnn.models import build_model, load_model, save_bundle
from xicam_gisaxs_cnn.models.test_time import views_record

PILATUS_1M = (1043, 981)
GEOMETRY = DetectorGeometry(energy_kev=10.0, distance_mm=2000.0, pixel_size_mm=(0.172, 0.172),
                            beam_centre_px=(480.0, 980.0), incidence_angle_deg=0.2)


class StoredClock:
    """Wraps a TiledWriter of batch size B: records when each analysis event actually reaches the catalog."""

    def __init__(self, writer, batch_size: int) -> None:
        self.writer, self.batch_size = writer, batch_size
        self.pending: list[float] = []  # raw event times waiting in the writer's batch
        self.latencies: list[float] = []
        self.stored: list[tuple[float, int]] = []  # (time, events stored so far) after each write
        self.last_stored = 0.0

    def __call__(self, name, doc):
        self.writer(name, doc)
        now = time.time()
        if name == "event":
            self.pending.append(doc["data"]["raw_time"])
            if len(self.pending) < self.batch_size:
                return
        elif name != "stop":
            return
        self.latencies += [now - t for t in self.pending]
        self.pending = []
        self.last_stored = now
        self.stored.append((now, len(self.latencies)))

    def storage_rate(self) -> float:
        """Events stored per second between the first and the last write (the rate the pipeline delivers)."""
        (first_time, first_count), (last_time, last_count) = self.stored[0], self.stored[-1]
        return (last_count - first_count) / (last_time - first_time) if last_time > first_time else float("nan")


def frame_pool(kind: str, rng: np.random.Generator, count: int = 16) -> list[np.ndarray]:
    shape = PILATUS_1M if kind == "pilatus1m" else (125, 125)
    frames = [rng.poisson(30, shape).astype(np.int32) for _ in range(count)]
    if kind == "pilatus1m":
        for frame in frames:
            frame[195:212] = -1
            frame[:, 487:494] = -1
    return frames


def raw_run(kind: str):
    metadata = {GEOMETRY_KEY: GEOMETRY.to_dict()} if kind == "pilatus1m" else {}
    bundle = compose_run(metadata=metadata)
    shape = list(PILATUS_1M if kind == "pilatus1m" else (125, 125))
    descriptor = bundle.compose_descriptor(
        name="primary", data_keys={"image": {"source": "bench", "dtype": "array", "shape": shape}})
    return bundle, descriptor


def live_case(kind, frames, count, rate, client, classifier, batch_size, window_scale) -> dict:
    """Feed ``count`` events (paced at ``rate`` Hz, or unpaced if None) and time them to the catalog."""
    clock = StoredClock(tiled_writer(client, batch_size=batch_size), batch_size)
    live = LiveClassifier(clock, classifier=classifier, window_scale=window_scale, batch_size=batch_size)
    bundle, descriptor = raw_run(kind)
    live("start", bundle.start_doc)
    live("descriptor", descriptor.descriptor_doc)
    call_seconds, backlog = [], 0
    began = time.time()
    for index in range(count):
        if rate:
            delay = began + index / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        event = descriptor.compose_event(data={"image": frames[index % len(frames)]}, timestamps={"image": time.time()},
                                         validate=False)
        before = time.perf_counter()
        live("event", event)
        call_seconds.append(time.perf_counter() - before)
        backlog = max(backlog, live.backlog)
    live("stop", bundle.compose_stop())
    live.close()
    first = began
    lost = count_lost(client, bundle.start_doc["uid"], count)
    latencies = np.array(clock.latencies)
    return {
        "frames": count, "paced_hz": rate, "frames_per_s": round(count / (clock.last_stored - first), 1),
        "stored_per_s": round(clock.storage_rate(), 1), "max_backlog": backlog,
        "latency_median_s": round(float(np.median(latencies)), 4), "latency_p99_s": round(float(np.percentile(latencies, 99)), 4),
        "enqueue_p99_us": round(float(np.percentile(call_seconds, 99)) * 1e6, 1), "lost": lost,
        "errors": live.counts["errors"], "write_failures": len(live.output_errors),
    }


def naive_case(kind, frames, count, client, classifier, window_scale) -> dict:
    """Classify and write each event before accepting the next (TiledWriter batch_size=1)."""
    writer = tiled_writer(client, batch_size=1)
    bundle, descriptor = raw_run(kind)
    analysis = compose_run(metadata={"purpose": "analysis", "raw_uid": bundle.start_doc["uid"]})
    writer("start", analysis.start_doc)
    out = analysis.compose_descriptor(name="primary", data_keys={
        key: {"source": "bench", **value} for key, value in ANALYSIS_DATA_KEYS.items()})
    writer("descriptor", out.descriptor_doc)
    geometry = GEOMETRY if kind == "pilatus1m" else None
    latencies = []
    began = time.time()
    for index in range(count):
        event = descriptor.compose_event(data={"image": frames[index % len(frames)]}, timestamps={"image": time.time()},
                                         validate=False)
        (result,) = classify_frames([event["data"]["image"]], classifier=classifier, geometry=geometry,
                                    sources=[str(index)], window_scale=window_scale)
        data = {"label": result.label, **dict(zip(PROBABILITY_KEYS, map(float, result.probabilities))),
                "ood_score": result.ood_score, "ood_flag": bool(result.ood_flag), "window_scale": result.window_scale,
                "valid_fraction": result.valid_fraction, "raw_seq_num": event["seq_num"], "raw_time": event["time"],
                "error": result.error}
        writer("event", out.compose_event(data=data, timestamps={k: time.time() for k in data}))
        latencies.append(time.time() - event["time"])
    writer("stop", analysis.compose_stop())
    latencies = np.array(latencies)
    return {"frames": count, "frames_per_s": round(count / (time.time() - began), 1),
            "latency_median_s": round(float(np.median(latencies)), 4),
            "latency_p99_s": round(float(np.percentile(latencies, 99)), 4),
            "lost": count_lost(client, bundle.start_doc["uid"], count)}


def stage_timings(classifier, frames_1m, batch_size: int) -> dict:
    """Milliseconds per image of the model alone and per Pilatus 1M frame of the resampling alone."""
    from xicam_gisaxs_cnn.frames import resampling_plan

    images = np.random.default_rng(1).poisson(30, (batch_size, 125, 125)).astype(np.float32)
    classifier.predict(images)
    began = time.perf_counter()
    for _ in range(3):
        classifier.predict(images)
    model_ms = (time.perf_counter() - began) / (3 * batch_size) * 1e3
    plan = resampling_plan(PILATUS_1M, geometry=GEOMETRY)
    began = time.perf_counter()
    for frame in frames_1m[:10]:
        plan.apply(frame)
    resample_ms = (time.perf_counter() - began) / len(frames_1m[:10]) * 1e3
    return {"model_ms_per_image": round(model_ms, 2), "resample_ms_per_pilatus1m_frame": round(resample_ms, 2)}


def count_lost(client, raw_uid: str, expected: int) -> int:
    """Raw events without exactly one analysis event, read back from the catalog."""
    (run,) = list(client.search(Key("start.raw_uid") == raw_uid).values())
    seq = sorted(int(s) for s in run["primary"].read()["raw_seq_num"].values)
    return expected - len(set(seq) & set(range(1, expected + 1))) + (len(seq) - len(set(seq)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="bundle name or path (default: shipped default, else an untrained compact)")
    parser.add_argument("--frames-125", type=int, default=1000)
    parser.add_argument("--frames-1m", type=int, default=1000)
    parser.add_argument("--rate-125", type=float, default=200.0, help="pace of the sustained 125x125 case, Hz")
    parser.add_argument("--rate-1m", type=float, default=100.0, help="pace of the sustained Pilatus 1M case, Hz")
    parser.add_argument("--naive", type=int, default=20, help="frames for the naive per-event write")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--window-scale", type=parse_window_scale, default=1.0,
                        help="window scale or mode of the Pilatus 1M frames (default 1)")
    parser.add_argument("--test-time-smear", type=smear_view_argument, nargs="+", default=None, metavar="PX|QYxQZ",
                        help="test-time views of the model (default: the bundle's own)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "live.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scratch = Path(tempfile.mkdtemp(prefix="bench-live-"))
    try:
        classifier = load_model(args.model, test_time_smear_px=args.test_time_smear)
        model = args.model or "shipped default"
    except Exception as error:  # no shipped bundle yet: speed does not depend on the weights
        torch.manual_seed(0)
        classifier = load_model(save_bundle(build_model("compact"), scratch / "untrained"),
                                test_time_smear_px=args.test_time_smear)
        model = f"untrained compact (no bundle loaded: {error.__class__.__name__})"
    client = open_catalog(scratch / "catalog")
    rng = np.random.default_rng(0)
    results = {"model": model, "test_time_smear_px": views_record(classifier.test_time_smear_px),
               "threads": args.threads, "batch_size": args.batch_size,
               "window_scale_pilatus1m": args.window_scale,
               "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
               "load_average_1min_at_start": round(os.getloadavg()[0], 2),
               "stages": stage_timings(classifier, frame_pool("pilatus1m", np.random.default_rng(2), 10), args.batch_size),
               "cases": {}}
    print("stages: " + ", ".join(f"{k}={v}" for k, v in results["stages"].items()), flush=True)
    for kind, count, rate in (("canonical125", args.frames_125, args.rate_125), ("pilatus1m", args.frames_1m, args.rate_1m)):
        frames = frame_pool(kind, rng)
        scale = args.window_scale if kind == "pilatus1m" else 1.0
        case = {
            "capacity": live_case(kind, frames, count, None, client, classifier, args.batch_size, scale),
            "sustained": live_case(kind, frames, count, rate, client, classifier, args.batch_size, scale),
            "naive": naive_case(kind, frames, args.naive, client, classifier, scale),
        }
        results["cases"][kind] = case
        for mode, numbers in case.items():
            print(f"{kind:>13} {mode:>9}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()), flush=True)
    results["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
