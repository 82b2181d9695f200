"""Frozen dataclasses of settings (simulation ranges, degradation mixture) to and from JSON objects and files."""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar

Record = TypeVar("Record")


def record_to_dict(record: Any) -> dict:
    """Plain dict of a dataclass instance, tuples (ranges) as lists, for JSON or HDF5 attributes."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(record).items()}


def record_from_dict(cls: type[Record], values: dict, *, what: str) -> Record:
    """Inverse of :func:`record_to_dict`; missing keys take the defaults, unknown keys raise ValueError naming ``what``."""
    known = [field.name for field in fields(cls)]
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown {what} keys: {sorted(unknown)}; known: {known}")
    return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})


def read_json_object(path: str | Path, *, option: str) -> dict:
    """The JSON object in the file ``path`` given to command-line ``option``; ValueError naming both otherwise."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{option} {path}: cannot read a JSON object ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{option} {path}: expected a JSON object, got {type(values).__name__}")
    return values
