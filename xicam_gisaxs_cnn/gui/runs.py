"""Read detector frames and their geometry out of a Bluesky run as Xi-cam hands it over (no Qt).

Xi-cam opens runs as databroker (1.x) ``BlueskyRun`` objects. The frames are the
first 2-D field of the run's ``primary`` stream; the geometry, when the run
carries one, is the start document's ``geometry`` mapping (the keys of
:func:`xicam_gisaxs_cnn.frames.geometry.geometry_from_mapping`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..frames.geometry import DetectorGeometry, geometry_from_mapping

GEOMETRY_KEY: str = "geometry"
"""Start-document key holding the detector geometry mapping."""


def image_field(run: Any, stream: str = "primary") -> str:
    """Name of the first data key of ``stream`` whose events hold 2-D arrays.

    Raises
    ------
    ValueError
        If the stream has no 2-D field.
    """
    for descriptor in run[stream].metadata["descriptors"]:
        for name, data_key in descriptor["data_keys"].items():
            if len(data_key.get("shape") or ()) == 2:
                return name
    raise ValueError(f"run {run.metadata['start']['uid']} has no 2-D image field in its {stream!r} stream")


def frames_from_run(run: Any, *, stream: str = "primary", field: str | None = None) -> np.ndarray:
    """Every frame of ``field`` (default: :func:`image_field`) in ``stream``, shape (N, rows, columns)."""
    field = field or image_field(run, stream)
    frames = np.asarray(run[stream].read()[field].values)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise ValueError(f"field {field!r} holds arrays of shape {frames.shape[1:]}, expected 2-D frames")
    return frames


def geometry_from_run(run: Any) -> DetectorGeometry | None:
    """The detector geometry recorded in the run's start document, or None if it records none."""
    values = run.metadata["start"].get(GEOMETRY_KEY)
    return None if values is None else geometry_from_mapping(values)
