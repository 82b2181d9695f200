"""The tiled catalog the raw runs and their analysis runs live in.

Embedded (default): a tiled catalog in SQLite plus array files (zarr) and
tables (SQLite) in a directory, served in-process, no server to run. Over HTTP:
a tiled server URI, for several processes or machines sharing one catalog;
serve the same directory with ``tiled serve catalog DIR/catalog.db
-w DIR/data -w sqlite:///DIR/tables.db --api-key SECRET``.
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "xicam-gisaxs-cnn"
CATALOG_DIR_VARIABLE = "GISAXS_CNN_CATALOG"
"""Environment variable naming the catalog directory or URI (overrides the default)."""


def default_catalog_location() -> str:
    """``$GISAXS_CNN_CATALOG`` if set, else ``<user data dir>/xicam-gisaxs-cnn/catalog``."""
    return os.environ.get(CATALOG_DIR_VARIABLE) or str(platformdirs.user_data_path(APP_NAME) / "catalog")


def open_catalog(
    location: str | os.PathLike | None = None,
    *,
    api_key: str | None = None,
    readable_storage: list[str | os.PathLike] | None = None,
):
    """A writable tiled client: a directory (embedded catalog, created if new) or an ``http(s)://`` URI.

    Parameters
    ----------
    location : str or path-like, optional
        Catalog directory or tiled server URI; :func:`default_catalog_location` if None.
    api_key : str, optional
        API key of a tiled server (keyword-only; HTTP only).
    readable_storage : list of path-like, optional
        Directories holding externally written detector files (Resource/StreamResource)
        the embedded catalog may serve.

    Returns
    -------
    tiled.client.container.Container
        The catalog root; runs are keyed by their start uid.
    """
    location = str(location or default_catalog_location())
    if location.startswith(("http://", "https://")):
        from tiled.client import from_uri

        return from_uri(location, api_key=api_key)
    return _embedded_client(Path(location).expanduser(), readable_storage or [])


def catalog_paths(directory: str | os.PathLike) -> dict[str, Path]:
    """Files of an embedded catalog: ``catalog`` (SQLite), ``data`` (array files), ``tables`` (SQLite)."""
    directory = Path(directory)
    return {"catalog": directory / "catalog.db", "data": directory / "data", "tables": directory / "tables.db"}


def _embedded_client(directory: Path, readable_storage: list):
    from tiled.catalog import from_uri as catalog_from_uri
    from tiled.client import Context, from_context
    from tiled.server.app import build_app

    paths = catalog_paths(directory)
    paths["data"].mkdir(parents=True, exist_ok=True)
    adapter = catalog_from_uri(
        f"sqlite:///{paths['catalog']}",
        writable_storage=[str(paths["data"]), f"sqlite:///{paths['tables']}"],
        readable_storage=[str(Path(path).resolve()) for path in readable_storage],
        init_if_not_exists=not paths["catalog"].exists(),  # initialising runs a slow subprocess
    )
    return from_context(Context.from_app(build_app(adapter)))


def tiled_writer(client, *, batch_size: int = 1):
    """A :class:`bluesky_tiled_plugins.TiledWriter` into ``client`` storing every array as a file (zarr).

    ``max_array_size=0`` keeps 2-D detector frames out of the SQL tables;
    ``batch_size`` events are written per request (and the rest at the run's stop).
    """
    from bluesky_tiled_plugins import TiledWriter

    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return TiledWriter(client, max_array_size=0, batch_size=int(batch_size))
