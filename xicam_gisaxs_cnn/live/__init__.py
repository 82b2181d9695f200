"""Live classification of Bluesky runs into a tiled catalog (adapters over :mod:`xicam_gisaxs_cnn.frames`)."""
from __future__ import annotations

from .analysis import ANALYSIS_DATA_KEYS, GEOMETRY_KEY, PROBABILITY_KEYS, LiveClassifier, image_field
from .catalog import default_catalog_location, open_catalog, tiled_writer
from .reader import RunFrame, iter_run_frames
from .replay import replay_run

__all__ = [
    "ANALYSIS_DATA_KEYS", "GEOMETRY_KEY", "LiveClassifier", "PROBABILITY_KEYS", "RunFrame", "default_catalog_location", "image_field",
    "iter_run_frames", "open_catalog", "replay_run", "tiled_writer",
]
