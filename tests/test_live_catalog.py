"""Live classification with a real RunEngine into a real embedded tiled catalog: nothing lost, nothing blocked."""
from __future__ import annotations

import itertools
import json
import time

import h5py
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import count
from event_model import compose_run
from ophyd.sim import NumpySeqHandler, SynSignal, SynSignalWithRegistry
from tiled.queries import Key

from xicam_gisaxs_cnn.classes import CLASS_NAMES
from xicam_gisaxs_cnn.cli import main
from xicam_gisaxs_cnn.frames import DetectorGeometry, classify_frames
from xicam_gisaxs_cnn.frames.scale import LADDER_CANDIDATES
from xicam_gisaxs_cnn.live import GEOMETRY_KEY, PROBABILITY_KEYS, LiveClassifier, iter_run_frames, open_catalog, tiled_writer
from xicam_gisaxs_cnn.models import load_model

MODULE = (195, 487)  # one Pilatus module, rows x columns
GEOMETRY = DetectorGeometry(energy_kev=10.0, distance_mm=600.0, pixel_size_mm=(0.172, 0.172),
                            beam_centre_px=(243.0, 190.0), incidence_angle_deg=0.2)


@pytest.fixture(scope="module")
def external_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("detector-files")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, external_dir):
    directory = tmp_path_factory.mktemp("catalog")
    return directory, open_catalog(directory, readable_storage=[external_dir])


@pytest.fixture(scope="module")
def classifier(untrained_bundle):
    return load_model(untrained_bundle)


def _cycling_detector(name, frames):
    values = itertools.chain([frames[0]], itertools.cycle(frames))  # the first value is read at construction
    return SynSignal(func=lambda: next(values), name=name)


def _split(documents):
    names = [name for name, _ in documents]
    events = [doc for name, doc in documents if name == "event"]
    return names, events


def test_every_raw_event_gets_one_analysis_event_even_for_bad_frames(classifier):
    rng = np.random.default_rng(0)
    good = rng.poisson(20, (125, 125)).astype(np.float64)
    frames = [good, np.full((125, 125), np.nan), good[:10, :10], good, np.full((125, 125), -1.0)]
    detector = _cycling_detector("canon", frames)
    documents = []
    live = LiveClassifier(lambda name, doc: documents.append((name, doc)), classifier=classifier, batch_size=2)
    RE = RunEngine({})
    RE.subscribe(live)
    (uid,) = RE(count([detector], num=10))
    assert live.wait(timeout=60)
    names, events = _split(documents)
    assert names[:2] == ["start", "descriptor"] and names[-1] == "stop" and len(events) == 10
    start = documents[0][1]
    assert start["purpose"] == "analysis" and start["raw_uid"] == uid
    assert start["model_sha256"] == classifier.sha256 and start["window_scale"] == 1.0  # canonical frames: scale 1
    assert start["folded"] is False  # canonical frames are never folded
    assert start["test_time_smear_px"] == [0.0]  # the bundle names no views: each image alone
    assert start["precision"] == "float32"  # the bundle carries no int8 calibration
    assert start["ensemble_temperature"] == 1.0  # nor an ensemble temperature
    assert [e["data"]["raw_seq_num"] for e in events] == list(range(1, 11))
    errors = {e["data"]["raw_seq_num"]: e["data"]["error"] for e in events if e["data"]["error"]}
    assert sorted(errors) == [2, 3, 5, 7, 8, 10]
    assert "no finite value" in errors[2] and "needs a detector geometry" in errors[3]
    assert "of the canonical grid holds data" in errors[5]
    assert all(e["data"]["label"] in CLASS_NAMES for e in events if not e["data"]["error"])
    assert live.counts == {"raw_events": 10, "results": 4, "errors": 6}
    live.close()


def test_frames_stored_via_resource_datum_are_loaded_and_missing_files_reported(classifier, external_dir):
    rng = np.random.default_rng(1)
    detector = SynSignalWithRegistry(func=lambda: rng.poisson(20, MODULE).astype(np.float64), name="pilatus",
                                     save_path=str(external_dir / "npy"))
    (external_dir / "npy").mkdir(exist_ok=True)
    raw = []
    RE = RunEngine({})
    RE.subscribe(lambda name, doc: raw.append((name, doc)))
    RE(count([detector], num=3), **{GEOMETRY_KEY: GEOMETRY.to_dict()})
    datum = [doc for name, doc in raw if name == "datum"][1]
    resource = next(doc for name, doc in raw if name == "resource")
    lost = external_dir / "npy" / f"{resource['resource_path']}_{datum['datum_kwargs']['index']}.npy"
    lost.unlink()
    documents = []
    live = LiveClassifier(lambda name, doc: documents.append((name, doc)), classifier=classifier,
                          handler_registry={"NPY_SEQ": NumpySeqHandler})
    for name, doc in raw:
        live(name, doc)
    live.close(timeout=60)
    _, events = _split(documents)
    assert [bool(e["data"]["error"]) for e in events] == [False, True, False]
    assert "cannot load frame 'pilatus'" in events[1]["data"]["error"] and "No such file" in events[1]["data"]["error"]
    assert documents[0][1]["geometry"] == GEOMETRY.to_dict()


def test_a_slow_consumer_never_blocks_the_run_engine_and_loses_nothing(classifier):
    detector = _cycling_detector("canon", [np.ones((125, 125))])
    documents = []

    def slow_output(name, doc):
        time.sleep(0.1)
        documents.append((name, doc))

    live = LiveClassifier(slow_output, classifier=classifier, batch_size=8)
    RE = RunEngine({})
    RE.subscribe(live)
    began = time.monotonic()
    RE(count([detector], num=30))
    engine_seconds = time.monotonic() - began
    emitted_when_engine_done = len(documents)
    assert live.wait(timeout=60)
    assert engine_seconds < 2.0 < 0.1 * len(documents)
    assert emitted_when_engine_done < 33 and len(_split(documents)[1]) == 30
    live.close()


def test_analysis_runs_are_stored_beside_raw_runs_and_found_by_raw_uid(catalog, classifier):
    _, client = catalog
    rng = np.random.default_rng(2)
    frames = [rng.poisson(20, MODULE).astype(np.float32) for _ in range(4)] + [np.full(MODULE, np.nan, np.float32)]
    detector = _cycling_detector("pilatus", frames)
    RE = RunEngine({})
    RE.subscribe(tiled_writer(client))
    live = LiveClassifier(tiled_writer(client, batch_size=4), classifier=classifier, batch_size=4)
    RE.subscribe(live)
    (uid,) = RE(count([detector], num=5), **{GEOMETRY_KEY: GEOMETRY.to_dict()})
    live.close(timeout=120)
    assert not live.output_errors
    found = client.search(Key("start.raw_uid") == uid)
    assert len(found) == 1
    analysis = found.values().first()
    assert analysis.metadata["start"]["purpose"] == "analysis"
    assert analysis.metadata["start"]["model_name"] == classifier.name
    table = analysis["primary"].read()
    assert list(table["raw_seq_num"].values) == [1, 2, 3, 4, 5]
    assert all(label in CLASS_NAMES for label in table["label"].values[:4]) and table["label"].values[4] == ""
    assert "no finite value" in str(table["error"].values[4])
    probabilities = np.column_stack([table[key].values for key in PROBABILITY_KEYS])
    np.testing.assert_allclose(probabilities[:4].sum(axis=1), 1.0, atol=1e-5)
    assert np.isnan(probabilities[4]).all()
    stored = list(iter_run_frames(client[uid], stream="primary"))
    assert [f.seq_num for f in stored] == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(stored[2].data, frames[2])


def test_classify_run_replays_a_stored_run_into_a_new_analysis_run(catalog, untrained_bundle, capsys):
    directory, client = catalog
    rng = np.random.default_rng(3)
    detector = _cycling_detector("pilatus", [rng.poisson(20, MODULE).astype(np.float32) for _ in range(3)])
    RE = RunEngine({})
    RE.subscribe(tiled_writer(client))
    (uid,) = RE(count([detector], num=3))
    status = main(["classify-run", uid, "--catalog", str(directory), "--model", str(untrained_bundle), "--json",
                   "--geometry", json.dumps(GEOMETRY.to_dict()), "--batch-size", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    records = [json.loads(line) for line in lines[:-1]]
    assert [r["raw_seq_num"] for r in records] == [1, 2, 3] and all(r["label"] in CLASS_NAMES for r in records)
    assert all(r["window_scale"] in LADDER_CANDIDATES for r in records)  # detector frames: the ensemble's choice
    assert lines[-1].endswith("3 frames, 0 errors")
    (analysis,) = list(open_catalog(directory).search(Key("start.raw_uid") == uid).values())
    assert list(analysis["primary"].read()["label"].values) == [r["label"] for r in records]
    assert main(["classify-run", uid, "--catalog", str(directory), "--model", str(untrained_bundle), "--window-scale",
                 "2", "--geometry", json.dumps(GEOMETRY.to_dict())]) == 0
    table = [line.split() for line in capsys.readouterr().out.splitlines()[:-1]]
    assert [row[0] for row in table] == ["1", "2", "3"] and all(row[1] in CLASS_NAMES for row in table)
    assert [row[2:] for row in table] == [["-", "2"]] * 3  # OOD flag (no OOD statistics: none), forced scale


def test_reader_yields_frames_stored_via_stream_resource(catalog, external_dir):
    _, client = catalog
    frames = np.arange(3 * 20 * 30, dtype=np.float64).reshape(3, 20, 30)
    path = external_dir / "stream.h5"
    with h5py.File(path, "w") as handle:
        handle["entry/data"] = frames
    writer = tiled_writer(client)
    bundle = compose_run()
    writer("start", bundle.start_doc)
    data_keys = {"frames": {"source": "file", "dtype": "array", "shape": [20, 30], "dtype_numpy": "<f8",
                            "external": "STREAM:"}}
    descriptor = bundle.compose_descriptor(name="primary", data_keys=data_keys)
    writer("descriptor", descriptor.descriptor_doc)
    resource = bundle.compose_stream_resource(mimetype="application/x-hdf5", uri=f"file://localhost{path}",
                                              data_key="frames", parameters={"dataset": "/entry/data"})
    writer("stream_resource", resource.stream_resource_doc)
    writer("stream_datum", resource.compose_stream_datum(indices={"start": 0, "stop": 3},
                                                         seq_nums={"start": 1, "stop": 4},
                                                         descriptor=descriptor.descriptor_doc))
    writer("stop", bundle.compose_stop())
    read = list(iter_run_frames(client[bundle.start_doc["uid"]], field="frames"))
    assert len(read) == 3
    for index, frame in enumerate(read):
        np.testing.assert_array_equal(frame.data, frames[index])


def _streamed_run(path, frames_announced: int):
    """Documents of a run whose frames arrive as StreamResource/StreamDatum (ophyd-async style) plus scalar events."""
    bundle = compose_run(metadata={GEOMETRY_KEY: GEOMETRY.to_dict()})
    data_keys = {"pilatus": {"source": "file", "dtype": "array", "shape": list(MODULE), "dtype_numpy": "<f4",
                             "external": "STREAM:"},
                 "temperature": {"source": "sim", "dtype": "number", "shape": []}}
    descriptor = bundle.compose_descriptor(name="primary", data_keys=data_keys)
    resource = bundle.compose_stream_resource(mimetype="application/x-hdf5", uri=f"file://localhost{path}",
                                              data_key="pilatus", parameters={"dataset": "/entry/data/data"})
    documents = [("start", bundle.start_doc), ("descriptor", descriptor.descriptor_doc),
                 ("stream_resource", resource.stream_resource_doc)]
    for first in range(0, frames_announced, 2):  # frames announced two at a time, each with its scalar event
        stop = min(first + 2, frames_announced)
        documents.append(("stream_datum", resource.compose_stream_datum(
            indices={"start": first, "stop": stop}, seq_nums={"start": first + 1, "stop": stop + 1},
            descriptor=descriptor.descriptor_doc)))
        documents += [("event", descriptor.compose_event(data={"temperature": 300.0}, timestamps={"temperature": 0.0}))
                      for _ in range(first, stop)]
    return bundle, [*documents, ("stop", bundle.compose_stop())]


def test_frames_announced_by_stream_datum_are_classified_live_and_missing_ones_reported(catalog, classifier,
                                                                                       external_dir):
    directory, client = catalog
    frames = np.random.default_rng(4).poisson(20, (4, *MODULE)).astype(np.float32)
    path = external_dir / "streamed.h5"
    with h5py.File(path, "w") as handle:
        handle["entry/data/data"] = frames
    bundle, documents = _streamed_run(path, frames_announced=5)  # the fifth frame never reaches the file
    live = LiveClassifier(tiled_writer(client, batch_size=2), classifier=classifier, batch_size=2)
    for name, doc in documents:
        live(name, doc)
    live.close(timeout=60)
    assert not live.output_errors and live.counts == {"raw_events": 5, "results": 4, "errors": 1}
    analysis = client.search(Key("start.raw_uid") == bundle.start_doc["uid"]).values().first()
    start = analysis.metadata["start"]
    assert start["folded"] is True  # detector frames with a geometry are folded about qy = 0
    assert start["window_scale"] == "ensemble"  # the scale mode of detector frames when none is given
    table = analysis["primary"].read()
    assert list(table["raw_seq_num"].values) == [1, 2, 3, 4, 5]
    assert all(label in CLASS_NAMES for label in table["label"].values[:4])
    assert "cannot load frame 'pilatus'" in table["error"].values[4] and "frame 4 is not in /entry/data/data" in table["error"].values[4]
    (alone,) = classify_frames([frames[2]], classifier=classifier, geometry=GEOMETRY, sources=["frame 3"],
                               window_scale="ensemble")
    np.testing.assert_allclose([table[key].values[2] for key in PROBABILITY_KEYS], alone.probabilities, atol=1e-5)
    assert table["window_scale"].values[2] == pytest.approx(alone.window_scale)  # the scale the ensemble chose
    assert np.isnan(table["window_scale"].values[4])  # no scale for a frame that failed


def test_reader_yields_frames_of_a_databroker_run_with_resource_datum(external_dir):
    import databroker.v2

    broker = databroker.v2.temp()
    broker.register_handler("NPY_SEQ", NumpySeqHandler, overwrite=True)
    values = iter(np.arange(4 * 10 * 12, dtype=np.float64).reshape(4, 10, 12))
    detector = SynSignalWithRegistry(func=lambda: next(values), name="det", save_path=str(external_dir / "npy"))
    (external_dir / "npy").mkdir(exist_ok=True)
    RE = RunEngine({})
    RE.subscribe(broker.v1.insert)
    (uid,) = RE(count([detector], num=3))
    read = list(iter_run_frames(broker[uid]))
    assert [f.seq_num for f in read] == [1, 2, 3]
    assert [float(f.data[0, 0]) for f in read] == [120.0, 240.0, 360.0]  # the value read at describe is frame 0
