"""Detector frames: geometry, pixel -> q, resampling onto the canonical grid, file readers and writers.

Pure numpy/scipy (fabio and h5py for files); no bluesky, no Qt.
"""
from __future__ import annotations

from .classify import MIN_VALID_FRACTION, FrameResult, canonical_frame, classify_frames
from .geometry import DetectorGeometry, geometry_from_mapping
from .qmap import exit_angles_deg, pixel_from_q, pixel_q_nm, q_from_exit_angles_nm
from .readers import DetectorFrame, read_frames, write_frames
from .resample import ResamplingPlan, canonical_axes_nm, resample, resample_scales, resampling_plan

__all__ = [
    "MIN_VALID_FRACTION", "DetectorFrame", "DetectorGeometry", "FrameResult", "ResamplingPlan", "canonical_axes_nm",
    "canonical_frame", "classify_frames", "exit_angles_deg", "geometry_from_mapping", "pixel_from_q", "pixel_q_nm",
    "q_from_exit_angles_nm", "read_frames", "resample", "resample_scales", "resampling_plan", "write_frames",
]
