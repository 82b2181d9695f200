"""``gisaxs-cnn simulate``: N patterns per class into HDF5 shards, locally or on a Dask cluster."""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Callable


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="simulate a training set of N patterns per class into HDF5 shards",
        description=(
            "Simulate N patterns of every class with the trainer's GISAXS simulator and write them as "
            "HDF5 shards (shard-*.h5) plus dataset.json into --out. The parameters depend only on --seed, "
            "--per-class, --shard-size, --batch-size and --config, not on --workers or --scheduler "
            "(images also on --device, to float rounding)."
        ),
    )
    parser.add_argument("--per-class", type=int, required=True, help="patterns per class")
    parser.add_argument("--out", required=True, help="dataset folder (created; must hold no shards yet)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the whole dataset (default: 0)")
    parser.add_argument("--device", default="cpu", help="torch device to simulate on: cpu, cuda, cuda:1 (default: cpu)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes on this machine, one shard at a time each (default: 1)")
    parser.add_argument("--shard-size", type=int, default=1024, help="patterns per shard (default: 1024)")
    parser.add_argument("--batch-size", type=int, default=64, help="patterns simulated at once (default: 64)")
    parser.add_argument("--config", help="JSON file of SimulationConfig fields (default: the built-in ranges)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the shards on an existing dask.distributed cluster, e.g. tcp://host:8786, "
                             "instead of --workers (its workers need this package installed and --out on a "
                             "shared file system)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from xicam_gisaxs_cnn.classes import CLASS_NAMES
    from xicam_gisaxs_cnn_trainer.datasets.generate import make_shard, plan_shards
    from xicam_gisaxs_cnn_trainer.datasets.shards import SHARD_PATTERN, shard_name
    from xicam_gisaxs_cnn_trainer.json_records import read_json_object
    from xicam_gisaxs_cnn_trainer.simulation import SIMULATOR_VERSION, SimulationConfig

    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    config = SimulationConfig()
    if args.config:
        config = SimulationConfig.from_dict(read_json_object(args.config, option="--config"))
    tasks = plan_shards(per_class=args.per_class, shard_size=args.shard_size, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if list(out.glob(SHARD_PATTERN)):
        raise ValueError(f"--out {out} already holds shards; choose an empty folder")
    total = sum(task.labels.size for task in tasks)
    common = {"config": config.to_dict(), "device": args.device, "batch_size": args.batch_size}
    started = time.perf_counter()
    with tqdm(total=total, unit="pattern", desc="simulate") as bar:
        if args.scheduler:
            _run_on_dask(args.scheduler, out, tasks, common, bar.update)
        elif args.workers > 1:
            from dask.distributed import LocalCluster

            threads = max(1, (os.cpu_count() or 1) // args.workers)
            with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:
                _run_on_dask(cluster.scheduler_address, out, tasks, {**common, "num_threads": threads}, bar.update)
        else:
            for task in tasks:
                make_shard(out, task, progress=bar.update, **common)
    seconds = time.perf_counter() - started
    manifest = {
        "per_class": args.per_class, "seed": args.seed, "shard_size": args.shard_size, "patterns": total,
        "shards": [shard_name(task.index) for task in tasks], "class_names": list(CLASS_NAMES),
        "simulator_version": SIMULATOR_VERSION, "config": config.to_dict(),
        "device": args.device, "workers": args.workers, "scheduler": args.scheduler, "seconds": round(seconds, 3),
    }
    (out / "dataset.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {total} patterns in {len(tasks)} shards to {out} ({total / seconds:.1f} patterns/s)")
    return 0


def _run_on_dask(address: str, out: Path, tasks: list, options: dict, update: Callable[[int], object]) -> None:
    """Make every shard on the dask.distributed cluster at ``address``, reporting each finished shard."""
    from dask.distributed import Client, as_completed

    from xicam_gisaxs_cnn_trainer.datasets.generate import make_shard

    with Client(address) as client:
        futures = [client.submit(make_shard, str(out), task, pure=False, **options) for task in tasks]
        for future in as_completed(futures):
            _, count = future.result()
            update(count)
