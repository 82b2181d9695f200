"""Frames announced live by StreamResource/StreamDatum documents, read from the detector's HDF5 file.

An ophyd-async style detector writes its frames to an HDF5 file and sends a
StreamResource (file URI, dataset path) once and a StreamDatum (a range of frame
indices and of event ``seq_num``) as frames land; no Event carries the image.
:class:`StreamFrameSource` reads frame ``index`` of one StreamResource, waiting
briefly for a frame the detector has announced but not yet flushed.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import unquote, urlparse

import h5py
import numpy as np

HDF5_MIMETYPE = "application/x-hdf5"
"""The StreamResource mimetype read here (ophyd-async's HDF writer)."""


def resource_path(resource: Mapping[str, Any]) -> Path:
    """Local file path of a StreamResource (``uri`` ``file://host/path``, or older ``root`` + ``resource_path``)."""
    if resource.get("uri"):
        parsed = urlparse(resource["uri"])
        if parsed.scheme not in ("file", ""):
            raise ValueError(f"stream resource {resource.get('uid')}: cannot read uri scheme {parsed.scheme!r} ({resource['uri']})")
        return Path(unquote(parsed.path))
    return Path(resource.get("root", "/")) / resource.get("resource_path", "")


class StreamFrameSource:
    """Frames of one StreamResource document, read on demand from its HDF5 file.

    Parameters
    ----------
    resource : mapping
        The StreamResource document (``mimetype`` application/x-hdf5,
        ``parameters["dataset"]`` the frames' dataset path).
    retry_s : sequence of float
        Waits, s, before reading again a frame not (yet) in the file (keyword-only).
    """

    def __init__(self, resource: Mapping[str, Any], *, retry_s: Sequence[float]) -> None:
        self.resource = dict(resource)
        self.retry_s = tuple(retry_s)
        self._file: h5py.File | None = None

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (rows, columns) of the dataset; ValueError or OSError naming the problem."""
        mimetype = self.resource.get("mimetype", self.resource.get("spec", ""))
        if mimetype != HDF5_MIMETYPE:
            raise ValueError(f"stream resource mimetype {mimetype!r} is not read live (only {HDF5_MIMETYPE})")
        dataset_path = self.resource.get("parameters", {}).get("dataset")
        if not dataset_path:
            raise ValueError("stream resource has no parameters['dataset'] naming the frames' HDF5 dataset")
        waits = iter(self.retry_s)
        while True:
            try:
                dataset = self._dataset(dataset_path)
                if index < dataset.shape[0]:
                    return np.asarray(dataset[index])
                problem: Exception = ValueError(
                    f"frame {index} is not in {dataset_path} of {self._path} (it holds {dataset.shape[0]})")
            except (OSError, KeyError) as error:  # the file or dataset not (yet) there
                problem = error
            wait = next(waits, None)
            if wait is None:
                raise problem
            self.close()  # reopen: a file written without SWMR shows new frames only then
            time.sleep(wait)

    @property
    def _path(self) -> Path:
        return resource_path(self.resource)

    def _dataset(self, dataset_path: str) -> h5py.Dataset:
        if self._file is None:
            try:
                self._file = h5py.File(self._path, "r", swmr=True, locking=False)
            except OSError:  # a file written without SWMR
                self._file = h5py.File(self._path, "r", locking=False)
        dataset = self._file[dataset_path]
        if self._file.swmr_mode:
            dataset.refresh()
        return dataset

    def close(self) -> None:
        """Close the file (reopened on the next read)."""
        if self._file is not None:
            self._file.close()
            self._file = None
