"""``gisaxs-cnn live`` in its own process classifies runs a RunEngine publishes through bluesky's 0MQ proxy."""
from __future__ import annotations

import itertools
import os
import queue
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.callbacks.zmq import Publisher
from bluesky.plans import count
from ophyd.sim import SynSignal
from tiled.queries import Key

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.live import open_catalog

DEADLINE_S = 150


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _lines(process) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue, text: str, deadline: float, seen: list) -> None:
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return
    pytest.fail(f"no {text!r} before the deadline; output: {''.join(seen)}")


@pytest.mark.timeout(DEADLINE_S + 30)
def test_live_command_stores_raw_and_analysis_runs_published_over_0mq(tmp_path, untrained_bundle):
    deadline = time.monotonic() + DEADLINE_S
    in_port, out_port = _free_port(), _free_port()
    catalog = tmp_path / "catalog"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proxy = subprocess.Popen([sys.executable, "-c", "from bluesky.callbacks.zmq import Proxy; "
                              f"Proxy('127.0.0.1:{in_port}', '127.0.0.1:{out_port}').start()"], env=env)
    live = subprocess.Popen(
        [sys.executable, "-c", "import sys; from xicam_gisaxs_cnn.cli import main; sys.exit(main())", "live",
         "--zmq", f"127.0.0.1:{out_port}", "--catalog", str(catalog), "--model", str(untrained_bundle),
         "--max-runs", "1", "--timeout", str(DEADLINE_S), "--batch-size", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    seen: list[str] = []
    try:
        lines = _lines(live)
        _wait_for(lines, "listening on", deadline, seen)
        publisher = Publisher(f"127.0.0.1:{in_port}")
        time.sleep(1.0)  # 0MQ subscriptions settle before the first message
        good = np.random.default_rng(0).poisson(20, (125, 125)).astype(np.float64)
        frames = [good, good * 2, np.full((125, 125), np.nan), good, good * 3, good]
        values = itertools.chain([good], itertools.cycle(frames))
        detector = SynSignal(func=lambda: next(values), name="canon")
        RE = RunEngine({})
        RE.subscribe(publisher)
        (uid,) = RE(count([detector], num=6))
        _wait_for(lines, "frames classified", deadline, seen)
        assert live.wait(timeout=max(deadline - time.monotonic(), 1)) == 0, "".join(seen)
        publisher.close()
    finally:
        for process in (live, proxy):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert "5 frames classified, 1 errors, 0 write failures" in "".join(seen)
    client = open_catalog(catalog)
    (analysis,) = list(client.search(Key("start.raw_uid") == uid).values())
    table = analysis["primary"].read()
    assert list(table["raw_seq_num"].values) == [1, 2, 3, 4, 5, 6]
    assert [bool(error) for error in table["error"].values] == [False, False, True, False, False, False]
    assert all(table["label"].values[i] in CLASS_NAMES for i in (0, 1, 3, 4, 5))
    raw = client[uid]["primary"].read()
    np.testing.assert_array_equal(raw["canon"].values[4], good * 3)
