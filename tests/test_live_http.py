"""A catalog served by a real tiled server over HTTP, shared by several processes (``tiled serve catalog``)."""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import stamina
from event_model import compose_run
from tiled.queries import Key

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.cli import main
from xicam_gisaxs_cnn.live import PROBABILITY_KEYS, LiveClassifier, iter_run_frames, open_catalog, tiled_writer
from xicam_gisaxs_cnn.live.catalog import catalog_paths
from xicam_gisaxs_cnn.models import load_model

DEADLINE_S = 90
API_KEY = secrets.token_hex(16)  # tiled accepts only alphanumeric keys

FIND_ANALYSIS = """
import json, os, sys
import numpy as np
from tiled.client import from_uri
from tiled.queries import Key

uri, raw_uid = sys.argv[1:]
client = from_uri(uri)  # a plain tiled client; tiled reads the API key from $TILED_API_KEY
runs = list(client.search(Key("start.raw_uid") == raw_uid).values())
table = runs[0]["primary"].read()
probabilities = np.column_stack([table[key].values for key in json.loads(os.environ["PROBABILITY_KEYS"])])
print(json.dumps({
    "runs": len(runs),
    "start": runs[0].metadata["start"],
    "raw_seq_num": table["raw_seq_num"].values.tolist(),
    "label": table["label"].values.tolist(),
    "error": table["error"].values.tolist(),
    "probability_sums": probabilities.sum(axis=1).tolist(),
    "raw_frame_sums": np.nansum(client[raw_uid]["primary"]["canon"].read(), axis=(1, 2)).tolist(),
}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(uri: str, process: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tiled server exited with {process.returncode}: {log_path.read_text()}")
        try:
            if httpx.get(f"{uri}/api/v1/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"tiled server not answering at {uri} after {DEADLINE_S} s: {log_path.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``tiled serve catalog`` on a new catalog directory laid out as ``catalog_paths`` says: (uri, directory)."""
    directory = tmp_path_factory.mktemp("served-catalog")
    log_path = tmp_path_factory.mktemp("server-log") / "tiled.log"
    paths = catalog_paths(directory)
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tiled", "serve", "catalog", "--init", str(paths["catalog"]),
               "-w", str(paths["data"]), "-w", f"sqlite:///{paths['tables']}",
               "--api-key", API_KEY, "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(uri, process, log_path)
            yield uri, directory
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


@pytest.fixture(scope="module")
def classifier(untrained_bundle):
    return load_model(untrained_bundle)


def _publish_raw_run(frames, *callbacks) -> str:
    """Compose a raw run of 2-D ``frames`` (field ``canon``), send each document to every callback; its uid."""
    bundle = compose_run(metadata={"plan_name": "test_http"})
    data_keys = {"canon": {"source": "test", "dtype": "array", "shape": list(frames[0].shape), "dtype_numpy": "<f8"}}
    descriptor = bundle.compose_descriptor(name="primary", data_keys=data_keys)
    documents = [("start", bundle.start_doc), ("descriptor", descriptor.descriptor_doc)]
    documents += [("event", descriptor.compose_event(data={"canon": frame}, timestamps={"canon": time.time()},
                                                     seq_num=seq_num))
                  for seq_num, frame in enumerate(frames, start=1)]
    documents.append(("stop", bundle.compose_stop()))
    for name, doc in documents:
        for callback in callbacks:
            callback(name, doc)
    return bundle.start_doc["uid"]


@pytest.mark.timeout(3 * DEADLINE_S)
def test_live_analysis_run_written_over_http_is_found_by_raw_uid_from_another_process(server, classifier):
    uri, directory = server
    client = open_catalog(uri, api_key=API_KEY)
    good = np.random.default_rng(0).poisson(20, (125, 125)).astype(np.float64)
    frames = [good, 2 * good, np.full((125, 125), np.nan), 3 * good]
    live = LiveClassifier(tiled_writer(client, batch_size=2), classifier=classifier, batch_size=2)
    raw_uid = _publish_raw_run(frames, tiled_writer(client), live)
    live.close(timeout=DEADLINE_S)
    assert not live.output_errors
    assert live.counts == {"raw_events": 4, "results": 3, "errors": 1}

    other = subprocess.run([sys.executable, "-c", FIND_ANALYSIS, uri, raw_uid], capture_output=True, text=True,
                           timeout=DEADLINE_S, env={**os.environ, "TILED_API_KEY": API_KEY,
                                                  "PROBABILITY_KEYS": json.dumps(PROBABILITY_KEYS)})
    assert other.returncode == 0, other.stderr
    found = json.loads(other.stdout)
    assert found["runs"] == 1
    assert found["start"]["purpose"] == "analysis" and found["start"]["model_sha256"] == classifier.sha256
    assert found["raw_seq_num"] == [1, 2, 3, 4]
    assert [label in CLASS_NAMES for label in found["label"]] == [True, True, False, True]
    assert found["label"][2] == "" and "no finite value" in found["error"][2]
    np.testing.assert_allclose([found["probability_sums"][i] for i in (0, 1, 3)], 1.0, atol=1e-5)
    np.testing.assert_allclose(found["raw_frame_sums"], [np.nansum(frame) for frame in frames])

    embedded = open_catalog(directory)  # the served directory is an embedded catalog too
    (analysis,) = embedded.search(Key("start.raw_uid") == raw_uid).values()
    assert analysis["primary"].read()["label"].values.tolist() == found["label"]
    np.testing.assert_array_equal(next(iter_run_frames(embedded[raw_uid])).data, frames[0])


@pytest.mark.timeout(3 * DEADLINE_S)
def test_classify_run_command_takes_the_api_key_from_the_environment(server, untrained_bundle, monkeypatch, capsys):
    uri, _ = server
    rng = np.random.default_rng(1)
    raw_uid = _publish_raw_run([rng.poisson(30, (125, 125)).astype(np.float64) for _ in range(2)],
                               tiled_writer(open_catalog(uri, api_key=API_KEY)))
    monkeypatch.setenv("TILED_API_KEY", API_KEY)
    status = main(["classify-run", raw_uid, "--catalog", f"{uri}/api/v1", "--model", str(untrained_bundle), "--json"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    records = [json.loads(line) for line in lines[:-1]]
    assert [r["raw_seq_num"] for r in records] == [1, 2] and all(r["label"] in CLASS_NAMES for r in records)
    (analysis,) = open_catalog(uri).search(Key("start.raw_uid") == raw_uid).values()
    assert analysis["primary"].read()["label"].values.tolist() == [r["label"] for r in records]


def test_a_wrong_or_missing_api_key_is_refused_naming_the_server(server, monkeypatch, capsys):
    uri, _ = server
    monkeypatch.delenv("TILED_API_KEY", raising=False)
    with pytest.raises(ValueError, match="rejected the API key") as wrong:
        open_catalog(uri, api_key=secrets.token_hex(16))
    assert uri in str(wrong.value) and "401" in str(wrong.value)
    for unusable in (None, "not-a-tiled-key"):  # none, and one tiled drops for its characters
        with pytest.raises(ValueError, match="requires an API key") as missing:
            open_catalog(uri, api_key=unusable)
        assert uri in str(missing.value) and "TILED_API_KEY" in str(missing.value)
    assert main(["classify-run", "any-uid", "--catalog", uri, "--api-key", secrets.token_hex(16)]) == 2
    assert "rejected the API key" in capsys.readouterr().err


def test_a_uri_where_no_server_listens_gives_a_connection_error_naming_it(capsys):
    uri = f"http://127.0.0.1:{_free_port()}"
    with stamina.set_testing(True, attempts=1):  # tiled retries a refused connection for ~25 s by default
        with pytest.raises(ConnectionError, match="no tiled server answers at") as refused:
            open_catalog(uri, api_key=API_KEY)
        assert uri in str(refused.value)
        assert main(["classify-run", "any-uid", "--catalog", uri, "--api-key", API_KEY]) == 2
    assert f"no tiled server answers at {uri}" in capsys.readouterr().err
