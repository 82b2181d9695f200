"""Read detector frames of a stored Bluesky run, from a tiled client or a databroker 1.x catalog.

Frames stored inline in events, via Resource/Datum or via StreamResource/StreamDatum
all read the same way here: tiled (bluesky-tiled-plugins' ``BlueskyRun``) and
databroker (its handler registry) resolve external files themselves.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import numpy as np

from .analysis import image_field


@dataclasses.dataclass(frozen=True)
class RunFrame:
    """One frame of a stored run: its event's ``seq_num`` and ``time``, and the data or why it is missing."""

    seq_num: int
    time: float
    data: np.ndarray | None
    error: str = ""


def run_start(run) -> dict:
    """The start document of a tiled or databroker run."""
    return dict(run.metadata["start"])


def stream_data_keys(run, stream: str) -> dict[str, dict[str, Any]]:
    """``data_keys`` of a stream's (first) descriptor."""
    metadata = run[stream].metadata
    if "descriptors" in metadata:  # databroker 1.x
        return dict(metadata["descriptors"][0]["data_keys"])
    return dict(metadata["data_keys"])  # tiled: the descriptor is the stream node's metadata


def iter_run_frames(run, *, stream: str = "primary", field: str | None = None, chunk: int = 16) -> Iterator[RunFrame]:
    """Yield every frame of ``stream``/``field`` of a stored run, in event order.

    Parameters
    ----------
    run : bluesky_tiled_plugins.BlueskyRun or databroker.core.BlueskyRun
        The raw run.
    stream : str
        Stream name (keyword-only).
    field : str, optional
        Image field; by default the stream's first 2-D array field.
    chunk : int
        Frames read per request.

    Raises
    ------
    ValueError
        If the run has no such stream or the stream no image field.
    """
    if stream not in run:
        raise ValueError(f"run {run_start(run)['uid']} has no stream {stream!r}; it has {list(run)}")
    data_keys = stream_data_keys(run, stream)
    name = image_field(data_keys, field)
    if name is None:
        wanted = repr(field) if field else "a 2-D image field"
        raise ValueError(f"stream {stream!r} has no {wanted}; its fields are {sorted(data_keys)}")
    if "descriptors" in run[stream].metadata:
        array, seq_nums, times = _databroker_columns(run[stream], name)
    else:
        array, seq_nums, times = _tiled_columns(run[stream], name)
    for start in range(0, len(seq_nums), chunk):
        stop = min(start + chunk, len(seq_nums))
        try:
            block = [np.asarray(frame) for frame in np.asarray(array[start:stop])]
        except Exception:  # read frame by frame to find which ones fail
            block = [_read_one(array, index) for index in range(start, stop)]
        for offset, frame in enumerate(block):
            index = start + offset
            if isinstance(frame, Exception):
                yield RunFrame(int(seq_nums[index]), float(times[index]), None, f"cannot read frame {name!r}: {frame}")
            else:
                yield RunFrame(int(seq_nums[index]), float(times[index]), frame)


def _read_one(array, index: int):
    try:
        return np.asarray(array[index])
    except Exception as error:  # reported per frame, never raised
        return error


def _tiled_columns(node, name: str):
    array = node[name]
    seq_nums = np.asarray(node["seq_num"].read()) if "seq_num" in node else np.arange(1, array.shape[0] + 1)
    times = np.asarray(node["time"].read()) if "time" in node else np.full(array.shape[0], np.nan)
    count = min(array.shape[0], len(seq_nums))
    return array, seq_nums[:count], times[:count]


def _databroker_columns(node, name: str):
    dataset = node.to_dask()
    array = dataset[name].data
    times = np.asarray(dataset["time"].values)
    return array, np.arange(1, len(times) + 1), times  # databroker 1.x orders events by time; seq_num from 1
