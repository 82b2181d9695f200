"""Read and write detector frames (EDF, TIFF, CBF with fabio; NeXus/HDF5 with h5py) with their geometry.

Geometry comes, per field, from the file header, then a JSON sidecar
(``FILE.json`` or ``FILE.<ext>.json`` holding :func:`~.geometry.geometry_from_mapping`
keys), then the caller's values, each later source overriding the earlier.

Header conventions
------------------
EDF (ESRF SAXS keys): ``WaveLength`` (m), ``SampleDistance`` (m), ``PSize_1``/``PSize_2``
(m), ``Center_1``/``Center_2`` (px), plus ``IncidenceAngle``, ``DetectorTilt``,
``DetectorRoll`` (degrees).
CBF and TIFF (Pilatus text header, TIFF in ImageDescription): ``# Wavelength 1.24 A``,
``# Detector_distance 2.0 m``, ``# Pixel_size 172e-6 m x 172e-6 m``,
``# Beam_xy (490.0, 900.0) pixels``, plus ``# Incidence_angle 0.2 deg.``,
``# Detector_tilt 0 deg.``, ``# Detector_roll 0 deg.``.
NeXus: the first NXdetector group with ``data`` ((N,) rows, columns), ``distance``,
``x_pixel_size``, ``y_pixel_size``, ``beam_center_x``/``beam_center_y`` (px) and
``incident_angle``, ``tilt``, ``roll``; an NXmonochromator ``energy`` or ``wavelength``;
each with a ``units`` attribute.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .geometry import DetectorGeometry

_LENGTH_MM = {"m": 1e3, "mm": 1.0, "cm": 10.0, "um": 1e-3, "µm": 1e-3, "micron": 1e-3, "nm": 1e-6}
_WAVELENGTH_NM = {"m": 1e9, "nm": 1.0, "a": 0.1, "å": 0.1, "angstrom": 0.1, "ang": 0.1}
_ENERGY_KEV = {"kev": 1.0, "ev": 1e-3}
_ANGLE_DEG = {"deg": 1.0, "deg.": 1.0, "degree": 1.0, "degrees": 1.0, "rad": 180.0 / np.pi}

FORMATS: dict[str, str] = {
    ".edf": "edf", ".tif": "tiff", ".tiff": "tiff", ".cbf": "cbf", ".h5": "nexus", ".hdf5": "nexus",
    ".hdf": "nexus", ".nxs": "nexus",
}
"""File suffix -> format name."""


@dataclasses.dataclass(frozen=True)
class DetectorFrame:
    """One detector frame and the geometry values found for it.

    Attributes
    ----------
    data : numpy.ndarray
        Counts, shape (rows, columns).
    geometry_values : dict
        Geometry keys gathered from header, sidecar and caller (may be incomplete;
        :func:`~.geometry.geometry_from_mapping` names what is missing).
    source : str
        ``path`` for single-frame files, ``path[index]`` for frames of a multi-frame file.
    index : int
        Frame number within the file, from 0.
    """

    data: np.ndarray
    geometry_values: dict
    source: str
    index: int


def file_format(path: str | os.PathLike) -> str:
    """The format name of ``path`` from its suffix; ValueError for an unknown suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unknown detector file suffix {suffix!r} of {path}; expected one of {sorted(FORMATS)}")
    return FORMATS[suffix]


def read_frames(path: str | os.PathLike, *, geometry_values: Mapping[str, Any] | None = None) -> Iterator[DetectorFrame]:
    """Yield every frame of a detector file with its geometry values.

    Parameters
    ----------
    path : path-like
        An EDF, TIFF, CBF or NeXus/HDF5 file, single- or multi-frame.
    geometry_values : mapping, optional
        Geometry keys given by the caller; they override header and sidecar.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be parsed as its format, naming the file and the problem.
    """
    path = Path(path)
    kind = file_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such detector file: {path}")
    try:
        header, frames, count = _OPENERS[kind](path)
    except Exception as error:  # parsers raise anything on a corrupt file; name the file instead
        raise ValueError(f"cannot read {path} as {kind}: {error}") from error
    values: dict[str, Any] = {}
    for layer in (header, read_sidecar(path), dict(geometry_values or {})):
        values = _overlay(values, layer)
    for index, data in enumerate(frames):
        source = str(path) if count == 1 else f"{path}[{index}]"
        yield DetectorFrame(np.asarray(data), dict(values), source, index)


_ALTERNATIVES: tuple[frozenset[str], ...] = (frozenset({"energy_kev", "wavelength_nm"}),)
"""Keys that say the same thing: a later source giving one replaces an earlier source's other."""


def _overlay(values: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """``values`` updated by ``layer``; a key of ``layer`` also drops its alternatives from ``values``."""
    merged = dict(values)
    for key in layer:
        for group in _ALTERNATIVES:
            if key in group:
                for other in group - {key}:
                    merged.pop(other, None)
    merged.update(layer)
    return merged


def read_sidecar(path: str | os.PathLike) -> dict:
    """Geometry keys from ``FILE.<ext>.json`` or ``FILE.json`` beside ``path``; {} if neither exists."""
    path = Path(path)
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file():
            try:
                values = json.loads(candidate.read_text())
            except json.JSONDecodeError as error:
                raise ValueError(f"geometry sidecar {candidate} is not valid JSON: {error}") from error
            if not isinstance(values, dict):
                raise ValueError(f"geometry sidecar {candidate} must hold a JSON object, got {type(values).__name__}")
            return values
    return {}


def write_frames(path: str | os.PathLike, frames: np.ndarray, *, geometry: DetectorGeometry | None = None) -> Path:
    """Write one frame (rows, columns) or several (N, rows, columns) with their geometry in the header.

    The format follows the suffix (see :data:`FORMATS`); CBF holds one frame per file.
    Returns the path written.
    """
    path = Path(path)
    kind = file_format(path)
    stack = np.asarray(frames)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3 or 0 in stack.shape:
        raise ValueError(f"frames must have shape (rows, columns) or (N, rows, columns), got {np.shape(frames)}")
    if kind == "cbf" and len(stack) != 1:
        raise ValueError(f"a CBF file holds one frame, got {len(stack)}; write one file per frame")
    path.parent.mkdir(parents=True, exist_ok=True)
    _WRITERS[kind](path, stack, geometry)
    return path


# ---- EDF ---------------------------------------------------------------------------------------

def _open_edf(path: Path):
    import fabio

    image = fabio.open(str(path))
    header = _edf_geometry(image.header)
    count = image.nframes
    frames = (image.data,) if count == 1 else (image.getframe(i).data for i in range(count))
    return header, frames, count


def _edf_geometry(header: Mapping[str, str]) -> dict:
    values: dict[str, Any] = {}
    if "WaveLength" in header:
        values["wavelength_nm"] = float(header["WaveLength"]) * 1e9
    if "SampleDistance" in header:
        values["distance_mm"] = float(header["SampleDistance"]) * 1e3
    if "PSize_1" in header and "PSize_2" in header:
        values["pixel_size_mm"] = (float(header["PSize_1"]) * 1e3, float(header["PSize_2"]) * 1e3)
    if "Center_1" in header and "Center_2" in header:
        values["beam_centre_px"] = (float(header["Center_1"]), float(header["Center_2"]))
    for key, name in (("IncidenceAngle", "incidence_angle_deg"), ("DetectorTilt", "tilt_deg"), ("DetectorRoll", "roll_deg")):
        if key in header:
            values[name] = float(header[key])
    return values


def _write_edf(path: Path, stack: np.ndarray, geometry: DetectorGeometry | None) -> None:
    from fabio.edfimage import EdfImage

    header = {}
    if geometry is not None:
        header = {
            "WaveLength": repr(geometry.wavelength_nm * 1e-9),
            "SampleDistance": repr(geometry.distance_mm * 1e-3),
            "PSize_1": repr(geometry.pixel_size_mm[0] * 1e-3), "PSize_2": repr(geometry.pixel_size_mm[1] * 1e-3),
            "Center_1": repr(geometry.beam_centre_px[0]), "Center_2": repr(geometry.beam_centre_px[1]),
            "IncidenceAngle": repr(geometry.incidence_angle_deg),
            "DetectorTilt": repr(geometry.tilt_deg), "DetectorRoll": repr(geometry.roll_deg),
        }
    image = EdfImage(data=stack[0], header=header)
    for frame in stack[1:]:
        image.append_frame(data=frame, header=header)
    image.write(str(path))


# ---- CBF and TIFF (Pilatus text header) --------------------------------------------------------

_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"


def _pilatus_geometry(text: str) -> dict:
    """Geometry keys from a Pilatus text header (or a JSON object in a TIFF description)."""
    text = text.strip()
    if text.startswith("{"):
        values = json.loads(text)
        return values if isinstance(values, dict) else {}
    values: dict[str, Any] = {}
    if match := re.search(rf"#\s*Wavelength\s+{_NUMBER}\s*(\S+)?", text):
        values["wavelength_nm"] = float(match[1]) * _unit(match[2] or "A", _WAVELENGTH_NM, "Wavelength")
    if match := re.search(rf"#\s*Detector_distance\s+{_NUMBER}\s*(\S+)?", text):
        values["distance_mm"] = float(match[1]) * _unit(match[2] or "m", _LENGTH_MM, "Detector_distance")
    if match := re.search(rf"#\s*Pixel_size\s+{_NUMBER}\s*(\S+)\s*x\s*{_NUMBER}\s*(\S+)", text):
        values["pixel_size_mm"] = (float(match[1]) * _unit(match[2], _LENGTH_MM, "Pixel_size"),
                                   float(match[3]) * _unit(match[4], _LENGTH_MM, "Pixel_size"))
    if match := re.search(rf"#\s*Beam_xy\s*\(\s*{_NUMBER}\s*,\s*{_NUMBER}\s*\)", text):
        values["beam_centre_px"] = (float(match[1]), float(match[2]))
    for key, name in (("Incidence_angle", "incidence_angle_deg"), ("Detector_tilt", "tilt_deg"),
                      ("Detector_roll", "roll_deg")):
        if match := re.search(rf"#\s*{key}\s+{_NUMBER}\s*(\S+)?", text):
            values[name] = float(match[1]) * _unit(match[2] or "deg", _ANGLE_DEG, key)
    return values


def _pilatus_header(geometry: DetectorGeometry | None) -> str:
    if geometry is None:
        return "# Detector: PILATUS"
    (px, py), (bx, by) = geometry.pixel_size_mm, geometry.beam_centre_px
    return "\n".join([
        "# Detector: PILATUS",
        f"# Pixel_size {px * 1e-3!r} m x {py * 1e-3!r} m",
        f"# Wavelength {geometry.wavelength_nm * 10!r} A",
        f"# Detector_distance {geometry.distance_mm * 1e-3!r} m",
        f"# Beam_xy ({bx!r}, {by!r}) pixels",
        f"# Incidence_angle {geometry.incidence_angle_deg!r} deg.",
        f"# Detector_tilt {geometry.tilt_deg!r} deg.",
        f"# Detector_roll {geometry.roll_deg!r} deg.",
    ])


def _open_cbf(path: Path):
    import fabio

    image = fabio.open(str(path))
    header = _pilatus_geometry(str(image.header.get("_array_data.header_contents", "")))
    return header, (image.data,), 1


def _write_cbf(path: Path, stack: np.ndarray, geometry: DetectorGeometry | None) -> None:
    from fabio.cbfimage import CbfImage

    if not np.issubdtype(stack.dtype, np.integer):
        raise ValueError(f"CBF stores integer counts, got dtype {stack.dtype}")
    header = {"_array_data.header_convention": "PILATUS_1.2",
              "_array_data.header_contents": _pilatus_header(geometry)}
    CbfImage(data=stack[0].astype(np.int32), header=header).write(str(path))


def _open_tiff(path: Path):
    import fabio

    image = fabio.open(str(path))
    header = _pilatus_geometry(str(image.header.get("imageDescription", "")))
    count = image.nframes
    frames = (image.data,) if count == 1 else (image.getframe(i).data for i in range(count))
    return header, frames, count


def _write_tiff(path: Path, stack: np.ndarray, geometry: DetectorGeometry | None) -> None:
    import tifffile

    data = stack[0] if len(stack) == 1 else stack
    tifffile.imwrite(path, data, description=_pilatus_header(geometry), metadata=None, photometric="minisblack")


# ---- NeXus / HDF5 ------------------------------------------------------------------------------

def _open_nexus(path: Path):
    import h5py

    handle = h5py.File(path, "r")
    detector = _nx_group(handle, "NXdetector")
    if detector is None or "data" not in detector:
        handle.close()
        raise ValueError("no NXdetector group with a 'data' dataset")
    data = detector["data"]
    if data.ndim not in (2, 3):
        handle.close()
        raise ValueError(f"detector data must be 2-D or 3-D, got shape {data.shape}")
    values: dict[str, Any] = {}
    for key, name in (("distance", "distance_mm"),):
        if key in detector:
            values[name] = _nx_value(detector[key], _LENGTH_MM, "mm")
    if "x_pixel_size" in detector and "y_pixel_size" in detector:
        values["pixel_size_mm"] = (_nx_value(detector["x_pixel_size"], _LENGTH_MM, "mm"),
                                   _nx_value(detector["y_pixel_size"], _LENGTH_MM, "mm"))
    if "beam_center_x" in detector and "beam_center_y" in detector:
        values["beam_centre_px"] = (float(detector["beam_center_x"][()]), float(detector["beam_center_y"][()]))
    for key, name in (("incident_angle", "incidence_angle_deg"), ("tilt", "tilt_deg"), ("roll", "roll_deg")):
        if key in detector:
            values[name] = _nx_value(detector[key], _ANGLE_DEG, "deg")
    monochromator = _nx_group(handle, "NXmonochromator")
    if monochromator is not None:
        if "energy" in monochromator:
            values["energy_kev"] = _nx_value(monochromator["energy"], _ENERGY_KEV, "keV")
        elif "wavelength" in monochromator:
            values["wavelength_nm"] = _nx_value(monochromator["wavelength"], _WAVELENGTH_NM, "nm")
    count = 1 if data.ndim == 2 else data.shape[0]

    def frames():
        with handle:
            if data.ndim == 2:
                yield data[()]
            else:
                for index in range(count):
                    yield data[index]

    return values, frames(), count


def _write_nexus(path: Path, stack: np.ndarray, geometry: DetectorGeometry | None) -> None:
    import h5py

    with h5py.File(path, "w") as handle:
        entry = handle.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        detector = instrument.create_group("detector")
        detector.attrs["NX_class"] = "NXdetector"
        detector.create_dataset("data", data=stack[0] if len(stack) == 1 else stack, compression="gzip",
                                chunks=(1, *stack.shape[1:]) if len(stack) > 1 else None)
        if geometry is None:
            return
        for key, value, units in (
            ("distance", geometry.distance_mm, "mm"),
            ("x_pixel_size", geometry.pixel_size_mm[0], "mm"), ("y_pixel_size", geometry.pixel_size_mm[1], "mm"),
            ("beam_center_x", geometry.beam_centre_px[0], "pixel"), ("beam_center_y", geometry.beam_centre_px[1], "pixel"),
            ("incident_angle", geometry.incidence_angle_deg, "deg"),
            ("tilt", geometry.tilt_deg, "deg"), ("roll", geometry.roll_deg, "deg"),
        ):
            detector.create_dataset(key, data=value).attrs["units"] = units
        monochromator = instrument.create_group("monochromator")
        monochromator.attrs["NX_class"] = "NXmonochromator"
        monochromator.create_dataset("energy", data=geometry.energy_kev).attrs["units"] = "keV"


def _nx_group(handle, nx_class: str):
    found = []

    def visit(name, item):
        if not found and item.attrs.get("NX_class") in (nx_class, nx_class.encode()):
            found.append(item)

    handle.visititems(visit)
    return found[0] if found else None


def _nx_value(dataset, table: Mapping[str, float], default_units: str) -> float:
    units = dataset.attrs.get("units", default_units)
    if isinstance(units, bytes):
        units = units.decode()
    return float(dataset[()]) * _unit(str(units), table, dataset.name)


def _unit(units: str, table: Mapping[str, float], what: str) -> float:
    key = units.strip().lower()
    if key not in table:
        raise ValueError(f"unknown units {units!r} for {what}; expected one of {sorted(table)}")
    return table[key]


_OPENERS = {"edf": _open_edf, "tiff": _open_tiff, "cbf": _open_cbf, "nexus": _open_nexus}
_WRITERS = {"edf": _write_edf, "tiff": _write_tiff, "cbf": _write_cbf, "nexus": _write_nexus}
