"""Open detector files from Xi-cam's file browser as Bluesky runs (no Qt).

Xi-cam 2.4.6 turns a double-clicked file into a run by asking the
``databroker.sniffers`` entry points for its MIME type and the
``databroker.ingestors`` entry point of that type for its documents; the run
then reaches :meth:`GISAXSClassifierPlugin.appendCatalog` like any other.
Frames are read by :func:`xicam_gisaxs_cnn.frames.read_frames`; the geometry
found in the header or sidecar goes into the start document (see :mod:`.runs`).
"""
from __future__ import annotations

import functools
import os
import time
from typing import Iterator, Sequence

import event_model
import numpy as np

from ..frames import geometry_from_mapping, read_frames
from ..frames.readers import FORMATS
from .runs import GEOMETRY_KEY

MIMETYPES: dict[str, str] = {
    "tiff": "image/tiff",
    "edf": "application/x-edf",
    "cbf": "application/x-cbf",
    "nexus": "application/x-hdf5",
}
"""Detector file format -> the MIME type its ingestor is registered under."""

IMAGE_FIELD: str = "detector_image"
"""Data key of the frames in the runs made from files."""


def sniff_detector_file(filename: str, first_bytes: bytes) -> str | None:
    """MIME type of a detector file from its suffix, or None for files this package does not read."""
    kind = FORMATS.get(os.path.splitext(filename)[1].lower())
    return MIMETYPES.get(kind) if kind else None


def ingest_detector_files(paths: Sequence[str | os.PathLike]) -> Iterator[tuple[str, dict]]:
    """Bluesky documents of one run holding every frame of ``paths``, in order.

    The start document records the files and, when the first frame's header or
    sidecar gives a complete geometry, the geometry (key ``"geometry"``); a file
    without one opens all the same, and the geometry is typed into the workflow.
    """
    frames = [frame for path in paths for frame in read_frames(path)]
    if not frames:
        raise ValueError(f"no frames in {[str(path) for path in paths]}")
    shapes = {np.shape(frame.data) for frame in frames}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"detector files must hold 2-D frames of one shape, got shapes {sorted(shapes)} from {paths}")
    metadata = {"plan_name": "detector files", "source_files": [str(path) for path in paths]}
    try:
        metadata[GEOMETRY_KEY] = geometry_from_mapping(frames[0].geometry_values).to_dict()
    except ValueError:
        pass  # incomplete or implausible header geometry: the user sets it in the workflow editor
    run = event_model.compose_run(metadata=metadata)
    shape = list(np.shape(frames[0].data))
    stream = run.compose_descriptor(
        name="primary",
        data_keys={IMAGE_FIELD: {"source": frames[0].source, "dtype": "array", "shape": shape}},
    )
    yield "start", run.start_doc
    yield "descriptor", stream.descriptor_doc
    for sequence, frame in enumerate(frames, start=1):
        yield "event", stream.compose_event(
            data={IMAGE_FIELD: frame.data}, timestamps={IMAGE_FIELD: time.time()}, seq_num=sequence
        )
    yield "stop", run.compose_stop()


# Xi-cam's plugin manager stamps each entry point's name (the MIME type) onto the object it
# loads, so every MIME type needs an object of its own; these are the registered ingestors.
ingest_tiff = functools.partial(ingest_detector_files)
ingest_edf = functools.partial(ingest_detector_files)
ingest_cbf = functools.partial(ingest_detector_files)
ingest_nexus = functools.partial(ingest_detector_files)
