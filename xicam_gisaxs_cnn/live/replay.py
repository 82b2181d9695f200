"""Replay a stored run through a :class:`~.analysis.LiveClassifier`, as if it were arriving live."""
from __future__ import annotations

from event_model import compose_run

from .analysis import LiveClassifier, image_field
from .reader import iter_run_frames, run_start, stream_data_keys


def replay_run(run, live: LiveClassifier, *, stream: str = "primary", field: str | None = None) -> int:
    """Feed a stored raw run's start, descriptor, frames and stop to ``live``; return the frames sent.

    The documents are recomposed with ``event_model.compose_run`` under the raw run's uid
    and seq_nums, frames inline; a frame that cannot be read is sent as a string
    naming the problem, which ``live`` records as that event's error.
    """
    start = run_start(run)
    data_keys = stream_data_keys(run, stream)
    name = image_field(data_keys, field)
    if name is None:
        raise ValueError(f"stream {stream!r} of run {start['uid']} has no image field {field or ''}".rstrip())
    key = {k: v for k, v in data_keys[name].items() if k not in ("external", "object_name")}
    metadata = {k: v for k, v in start.items() if k not in ("uid", "time")}
    bundle = compose_run(uid=start["uid"], time=start["time"], metadata=metadata)
    live("start", bundle.start_doc)
    descriptor = bundle.compose_descriptor(name=stream, data_keys={name: key})
    live("descriptor", descriptor.descriptor_doc)
    sent = 0
    for frame in iter_run_frames(run, stream=stream, field=name):
        value = frame.data if frame.data is not None else frame.error
        live("event", descriptor.compose_event(
            data={name: value}, timestamps={name: frame.time}, seq_num=frame.seq_num, time=frame.time, validate=False,
        ))
        sent += 1
    live("stop", bundle.compose_stop())
    return sent
