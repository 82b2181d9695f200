"""Live classification of Bluesky runs: one analysis event per raw event, without blocking the RunEngine.

:class:`LiveClassifier` is a document callback (subscribe it to a RunEngine, a
0MQ ``RemoteDispatcher`` or a replayed run). It only queues documents; a worker
thread routes them per run (an event-model ``RunRouter``), loads externally stored
frames (Resource/Datum through event-model's Filler; StreamResource/StreamDatum from
the detector's HDF5 file as each StreamDatum arrives), classifies queued frames in batches through
:func:`xicam_gisaxs_cnn.frames.classify_frames` and emits a derived analysis run,
composed with ``event_model.compose_run``; a second thread hands those documents,
in order, to an injected ``output(name, doc)`` callable (a TiledWriter in use,
``list.append``-like in tests), so slow writes overlap classification.
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from event_model import DocumentRouter, Filler, RunRouter, compose_run, unpack_datum_page, unpack_event_page

from ..classes import CLASS_NAMES
from ..frames import DetectorGeometry, classify_frames, geometry_from_mapping
from ..frames.fold import FOLD_QY
from ..frames.resample import BeamStop
from ..frames.scale import default_window_scale
from ..models import Classifier, ModelsByFrameKind
from ..models.test_time import SmearView, views_record
from .stream_frames import StreamFrameSource

logger = logging.getLogger(__name__)

GEOMETRY_KEY = "gisaxs_geometry"
"""Start-document key holding the detector geometry mapping of a raw run."""

ANALYSIS_STREAM = "primary"
"""Stream name of the analysis run's events."""

PROBABILITY_KEYS: tuple[str, ...] = tuple(f"probability_{name}" for name in CLASS_NAMES)
"""Analysis-event keys of the class probabilities, in ``CLASS_NAMES`` order (one scalar column each:
a table append per batch, where a (7,) array field would cost an array write per batch too)."""

ANALYSIS_DATA_KEYS: dict[str, dict[str, Any]] = {
    "label": {"dtype": "string", "shape": []},
    **{key: {"dtype": "number", "shape": []} for key in PROBABILITY_KEYS},
    "ood_score": {"dtype": "number", "shape": []},
    "ood_flag": {"dtype": "boolean", "shape": []},
    "window_scale": {"dtype": "number", "shape": []},
    "valid_fraction": {"dtype": "number", "shape": []},
    "raw_seq_num": {"dtype": "integer", "shape": []},
    "raw_time": {"dtype": "number", "shape": []},
    "error": {"dtype": "string", "shape": []},
}
"""Per-event data of an analysis run ("" label and NaN numbers with a non-empty ``error`` for a failed frame);
``window_scale`` is the scale the frame was classified at (the one chosen, with a mode such as ``"ensemble"``)."""

STREAMED = "STREAM:"
"""``external`` value of a data key whose frames arrive by StreamResource/StreamDatum, not in events."""

FILL_RETRY_S: list[float] = [0.01, 0.05, 0.1, 0.25, 0.5]
"""Waits, s, before retrying to load an external frame (a detector may still be writing it)."""

_CLOSE = object()


def image_field(data_keys: Mapping[str, Mapping[str, Any]], field: str | None = None) -> str | None:
    """The detector image field of a descriptor: ``field`` if given and present, else the first 2-D key."""
    if field is not None:
        return field if field in data_keys else None
    for key, value in data_keys.items():
        shape = [size for size in value.get("shape", []) if size != 1]
        if value.get("dtype") == "array" and len(shape) == 2:
            return key
    return None


class LiveClassifier:
    """Classify every detector frame of every run it sees; emit one analysis run per raw run.

    Parameters
    ----------
    output : callable
        ``output(name, doc)`` receives the analysis runs' documents, from the worker thread.
    classifier : xicam_gisaxs_cnn.models.Classifier, optional
        The model for every run (keyword-only). By default each run gets the shipped model
        for its kind of frame (:class:`~xicam_gisaxs_cnn.models.ModelsByFrameKind`):
        ``frames`` when it has a detector geometry, ``default`` when it has none.
    geometry : DetectorGeometry, optional
        Geometry for runs whose start document lacks ``gisaxs_geometry``; without either,
        only canonical 125 x 125 frames can be classified.
    stream : str
        Raw stream holding the frames.
    field : str, optional
        Image field; by default the first 2-D array field of the stream.
    window_scale : float, "auto", "confidence" or "ensemble", optional
        Zoom of the canonical q window, or a way to choose it per frame
        (:func:`~xicam_gisaxs_cnn.frames.scale.choose_window_scale`). By default each run
        gets :func:`~xicam_gisaxs_cnn.frames.scale.default_window_scale` of its kind of frame:
        ``"ensemble"`` with a detector geometry, 1 without.
    beam_stop_px : tuple of int, optional
        Beam-stop rectangle ``(x_min, x_max, y_min, y_max)``, px.
    test_time_smear_px : sequence of float or (qy_px, qz_px), optional
        Test-time views (px) of the shipped models chosen per run, instead of each bundle's
        own; with ``classifier``, set its ``test_time_smear_px`` instead.
    precision : "float32" or "int8", optional
        The same for the precision of the shipped models (:attr:`Classifier.precision`);
        recorded, with the views, in each analysis run's start.
    fold : bool
        Fold detector frames about qy = 0 before classification
        (:func:`~xicam_gisaxs_cnn.frames.fold.fold_qy`); recorded in each analysis run's start.
    batch_size : int
        Most frames classified in one model call.
    handler_registry : dict, optional
        Resource spec -> handler class for frames stored via Resource/Datum
        (default: ophyd.sim's ``NPY_SEQ``).
    """

    def __init__(
        self,
        output: Callable[[str, dict], Any],
        *,
        classifier: Classifier | None = None,
        geometry: DetectorGeometry | None = None,
        stream: str = "primary",
        field: str | None = None,
        window_scale: float | str | None = None,
        beam_stop_px: BeamStop | None = None,
        test_time_smear_px: Sequence[SmearView] | None = None,
        precision: str | None = None,
        fold: bool = FOLD_QY,
        batch_size: int = 32,
        handler_registry: dict | None = None,
    ) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for name, value in (("test_time_smear_px", test_time_smear_px), ("precision", precision)):
            if classifier is not None and value is not None:
                raise ValueError(f"give {name} for the shipped models chosen per run, or set the "
                                 f"classifier's own {name}, not both")
        self.output = output
        self.classifier = classifier
        self.models = ModelsByFrameKind(test_time_smear_px, precision) if classifier is None else None
        self.geometry = geometry
        self.stream = stream
        self.field = field
        mode_or_unset = window_scale is None or isinstance(window_scale, str)
        self.window_scale = window_scale if mode_or_unset else float(window_scale)
        self.beam_stop_px = beam_stop_px
        self.fold = bool(fold)
        self.batch_size = int(batch_size)
        if handler_registry is None:
            from ophyd.sim import NumpySeqHandler

            handler_registry = {"NPY_SEQ": NumpySeqHandler}
        self.handler_registry = handler_registry
        self.output_errors: list[str] = []
        self.counts = {"raw_events": 0, "results": 0, "errors": 0}
        self._queue: queue.Queue = queue.Queue()  # raw documents -> classifying thread
        self._outbox: queue.Queue = queue.Queue()  # analysis documents -> writing thread
        self._router = RunRouter([self._factory])
        self._runs: dict[str, _RunClassifier] = {}
        self._thread = threading.Thread(target=self._work, name="gisaxs-live-classifier", daemon=True)
        self._writer = threading.Thread(target=self._write, name="gisaxs-live-writer", daemon=True)
        self._thread.start()
        self._writer.start()

    def __call__(self, name: str, doc: dict) -> None:
        """Queue a document and return at once (called from the RunEngine or dispatcher thread)."""
        self._queue.put((name, doc))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued document is processed; False if ``timeout`` (s) ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks or self._outbox.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Process and write what is queued, then stop the worker threads."""
        self._queue.put((_CLOSE, None))
        self._thread.join(timeout)
        self._writer.join(timeout)

    @property
    def backlog(self) -> int:
        """Raw documents queued and not yet processed plus analysis documents not yet written."""
        return self._queue.unfinished_tasks + self._outbox.unfinished_tasks

    def model_for(self, detector_frames: bool) -> Classifier:
        """The classifier of a run whose frames are detector frames (True) or canonical images (False)."""
        return self.classifier if self.models is None else self.models(detector_frames)

    def window_scale_for(self, detector_frames: bool) -> float | str:
        """The window scale (or scale mode) of a run whose frames are detector frames (True) or canonical images."""
        return default_window_scale(detector_frames) if self.window_scale is None else self.window_scale

    def _factory(self, name: str, start: dict):
        run = _RunClassifier(self, start)
        self._runs[start["uid"]] = run
        return [run], []

    def _work(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 4 * self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = False
            for name, doc in batch:
                if name is _CLOSE:
                    closing = True
                    continue
                try:
                    self._router(name, doc)
                except Exception as error:  # a malformed document must not stop the worker
                    logger.exception("live classifier could not process a %s document", name)
                    self.output_errors.append(f"{name}: {error}")
            for run in list(self._runs.values()):
                run.flush()
            for _ in batch:
                self._queue.task_done()
            if closing:
                self._outbox.put((_CLOSE, None))
                return

    def emit(self, name: str, doc: dict) -> None:
        """Queue one analysis document for the writing thread (so writing overlaps classifying)."""
        self._outbox.put((name, doc))

    def _write(self) -> None:
        while True:
            name, doc = self._outbox.get()
            try:
                if name is _CLOSE:
                    return
                self.output(name, doc)
            except Exception as error:  # a failing output is logged and counted, never raised
                logger.exception("output failed on an analysis %s document", name)
                self.output_errors.append(f"{name}: {error}")
            finally:
                self._outbox.task_done()


@dataclasses.dataclass(frozen=True)
class _PendingFrame:
    """A raw frame waiting for classification: its ``seq_num``, arrival ``time`` (s), field and how to load it."""

    seq_num: int
    time: float
    field: str
    load: Callable[[], np.ndarray]


class _RunClassifier(DocumentRouter):
    """The documents of one raw run -> its analysis run."""

    def __init__(self, live: LiveClassifier, start: dict) -> None:
        super().__init__()
        self.live = live
        self.raw_start = start
        self.geometry, self.geometry_problem = _run_geometry(start, live.geometry)
        self.classifier = live.model_for(self.geometry is not None)
        self.window_scale = live.window_scale_for(self.geometry is not None)
        self.filler: Filler | None = None
        self.fields: dict[str, str] = {}  # raw descriptor uid -> image field
        self.streamed: set[str] = set()  # descriptor uids whose image field arrives by StreamDatum
        self.stream_sources: dict[str, StreamFrameSource] = {}  # StreamResource uid -> its frames
        self.pending: list[_PendingFrame] = []
        self.bundle = None
        self.descriptor_bundle = None
        self.done = 0  # analysis events emitted
        self.failed = 0  # of which error records

    def start(self, doc):
        self.filler = Filler(self.live.handler_registry, inplace=False, retry_intervals=FILL_RETRY_S)
        self.filler("start", doc)

    def descriptor(self, doc):
        self.filler("descriptor", doc)
        if doc.get("name") != self.live.stream:
            return
        field = image_field(doc.get("data_keys", {}), self.live.field)
        if field is None:
            return
        self.fields[doc["uid"]] = field
        if doc["data_keys"][field].get("external") == STREAMED:
            self.streamed.add(doc["uid"])
        if self.bundle is None:
            self._start_analysis(field)

    def resource(self, doc):
        self.filler("resource", doc)

    def datum(self, doc):
        self.filler("datum", doc)

    def datum_page(self, doc):
        for datum in unpack_datum_page(doc):
            self.datum(datum)

    def stream_resource(self, doc):
        self.stream_sources[doc["uid"]] = StreamFrameSource(doc, retry_s=FILL_RETRY_S)

    def stream_datum(self, doc):
        descriptor = doc["descriptor"]
        source = self.stream_sources.get(doc["stream_resource"])
        if descriptor not in self.streamed or source is None or source.resource.get("data_key") != self.fields[descriptor]:
            return
        indices = range(doc["indices"]["start"], doc["indices"]["stop"])
        seq_nums = range(doc["seq_nums"]["start"], doc["seq_nums"]["stop"])
        if len(seq_nums) != len(indices):  # frames not tied to events (seq_nums 0..0): number them from 1
            seq_nums = range(indices.start + 1, indices.stop + 1)
        now = time.time()
        for index, seq_num in zip(indices, seq_nums):
            self._queue_frame(_PendingFrame(seq_num, now, self.fields[descriptor], lambda index=index: source.frame(index)))

    def event(self, doc):
        if doc["descriptor"] in self.fields and doc["descriptor"] not in self.streamed:
            self._queue_frame(_PendingFrame(doc["seq_num"], doc["time"], self.fields[doc["descriptor"]],
                                            lambda: self._frame(doc)))

    def _queue_frame(self, frame: _PendingFrame) -> None:
        self.live.counts["raw_events"] += 1
        self.pending.append(frame)
        if len(self.pending) >= self.live.batch_size:
            self.flush()

    def event_page(self, doc):
        for event in unpack_event_page(doc):
            self.event(event)

    def stop(self, doc):
        self.flush()
        self.live._runs.pop(self.raw_start["uid"], None)
        if self.bundle is not None:
            self.live.emit("stop", self.bundle.compose_stop(
                exit_status="success", reason=f"{self.done - self.failed} frames classified, {self.failed} errors",
            ))
        if self.filler is not None:
            self.filler.close()
        for source in self.stream_sources.values():
            source.close()

    def _start_analysis(self, field: str) -> None:
        classifier = self.classifier
        self.bundle = compose_run(metadata={
            "purpose": "analysis",
            "raw_uid": self.raw_start["uid"],
            "raw_scan_id": self.raw_start.get("scan_id"),
            "raw_stream": self.live.stream,
            "raw_field": field,
            "model_name": classifier.name,
            "model_sha256": classifier.sha256,
            "test_time_smear_px": views_record(classifier.test_time_smear_px),
            "precision": classifier.precision,
            "ensemble_temperature": classifier.ensemble_temperature,
            "classes": list(CLASS_NAMES),
            "window_scale": self.window_scale,
            "folded": self.live.fold and self.geometry is not None,
            "geometry": None if self.geometry is None else self.geometry.to_dict(),
        })
        self.live.emit("start", self.bundle.start_doc)
        data_keys = {key: {"source": "xicam_gisaxs_cnn", **value} for key, value in ANALYSIS_DATA_KEYS.items()}
        self.descriptor_bundle = self.bundle.compose_descriptor(name=ANALYSIS_STREAM, data_keys=data_keys)
        self.live.emit("descriptor", self.descriptor_bundle.descriptor_doc)

    def flush(self) -> None:
        """Classify the pending events in one batch and emit one analysis event for each."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        frames, problems = [], []
        for frame in pending:
            try:
                frames.append(frame.load())
                problems.append(self.geometry_problem)
            except Exception as error:  # a frame that cannot be loaded becomes an error record
                frames.append(None)
                cause = error.__cause__ or error  # the Filler wraps the handler's error
                problems.append(f"cannot load frame {frame.field!r}: {cause}")
        good = [i for i, problem in enumerate(problems) if not problem]
        results = {}
        if good:
            try:
                batch = classify_frames(
                    [frames[i] for i in good], classifier=self.classifier, geometry=self.geometry,
                    sources=[f"{self.raw_start['uid']}:{pending[i].seq_num}" for i in good],
                    window_scale=self.window_scale, beam_stop_px=self.live.beam_stop_px, fold=self.live.fold,
                )
                results = dict(zip(good, batch))
            except Exception as error:  # the model failing must still give one record per event
                logger.exception("classification failed")
                problems = [problem or f"classification failed: {error}" for problem in problems]
        for index, frame in enumerate(pending):
            result = results.get(index)
            problem = result.error if result is not None else problems[index]
            probabilities = np.full(len(CLASS_NAMES), np.nan) if problem else np.asarray(result.probabilities, float)
            data = {
                "label": "" if problem else result.label,
                **{key: float(value) for key, value in zip(PROBABILITY_KEYS, probabilities)},
                "ood_score": float("nan") if problem else float(result.ood_score),
                "ood_flag": False if problem else bool(result.ood_flag),
                "window_scale": float("nan") if problem else float(result.window_scale),
                "valid_fraction": 0.0 if problem else float(result.valid_fraction),
                "raw_seq_num": int(frame.seq_num),
                "raw_time": float(frame.time),
                "error": problem or "",
            }
            now = time.time()
            self.done += 1
            self.failed += bool(problem)
            self.live.counts["errors" if problem else "results"] += 1
            self.live.emit("event", self.descriptor_bundle.compose_event(data=data, timestamps={k: now for k in data}))

    def _frame(self, event: dict) -> np.ndarray:
        field = self.fields[event["descriptor"]]
        if field not in event["data"]:
            raise ValueError(f"event {event['seq_num']} has no field {field!r}")
        if not event.get("filled", {}).get(field, True):
            _, event = self.filler("event", event)
        value = event["data"][field]
        if isinstance(value, str):  # a replayed frame that could not be read carries its problem
            raise ValueError(value)
        frame = np.asarray(value)
        if frame.ndim == 3 and frame.shape[0] == 1:
            frame = frame[0]
        return frame


def _run_geometry(start: Mapping[str, Any], default: DetectorGeometry | None) -> tuple[DetectorGeometry | None, str]:
    """The run's geometry (start document first, then the default) and a problem message ("" if none)."""
    values = start.get(GEOMETRY_KEY)
    if values is None:
        return default, ""
    try:
        return geometry_from_mapping(values), ""
    except (ValueError, TypeError) as error:
        return None, f"invalid {GEOMETRY_KEY} in the run's start document: {error}"
