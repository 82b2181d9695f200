"""The tiled catalog the raw runs and their analysis runs live in.

Embedded (default): a tiled catalog in SQLite plus array files (zarr) and
tables (SQLite) in a directory, served in-process, no server to run. Over HTTP:
a tiled server URI, for several processes or machines sharing one catalog;
serve the same directory (new or already used embedded) with ``tiled serve
catalog --init DIR/catalog.db -w DIR/data -w sqlite:///DIR/tables.db --api-key
SECRET`` and open ``http://HOST:8000`` with that key (or ``$TILED_API_KEY``).
"""
from __future__ import annotations

import os
import threading
import weakref
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
        API key of a tiled server (keyword-only; HTTP only); ``$TILED_API_KEY`` if None.
    readable_storage : list of path-like, optional
        Directories holding externally written detector files (Resource/StreamResource)
        the embedded catalog may serve.

    Returns
    -------
    tiled.client.container.Container
        The catalog root; runs are keyed by their start uid.

    Raises
    ------
    ConnectionError
        No tiled server answers at the URI (after tiled's retries).
    ValueError
        The server rejects the API key, or needs one and none was given.
    """
    location = str(location or default_catalog_location())
    if location.startswith(("http://", "https://")):
        return _server_client(location, api_key)
    return _embedded_client(Path(location).expanduser(), readable_storage or [])


def catalog_paths(directory: str | os.PathLike) -> dict[str, Path]:
    """Files of an embedded catalog: ``catalog`` (SQLite), ``data`` (array files), ``tables`` (SQLite)."""
    directory = Path(directory)
    return {"catalog": directory / "catalog.db", "data": directory / "data", "tables": directory / "tables.db"}


def _server_client(uri: str, api_key: str | None):
    import httpx
    from tiled.client import from_uri

    try:
        return from_uri(uri, api_key=api_key)
    except httpx.TransportError as error:
        raise ConnectionError(f"no tiled server answers at {uri}: {error}") from error
    except httpx.HTTPStatusError as error:
        if error.response.status_code in (401, 403):
            raise ValueError(f"the tiled server at {uri} rejected the API key: {error}") from error
        raise
    except RuntimeError as error:  # from_uri's only one: "This server requires API key authentication"
        raise ValueError(f"the tiled server at {uri} requires an API key and got none it can use (letters, "
                         "digits and _ only): pass api_key (gisaxs-cnn --api-key) or set TILED_API_KEY") from error


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


_WRITE_LOCKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
"""One lock per tiled context: the writers of one process take turns (an embedded catalog's SQLite
tables fail with "database is locked" when two threads write at once)."""


class SerialisedWriter:
    """A document callback that holds its catalog's write lock while ``writer`` handles each document."""

    def __init__(self, writer, lock: threading.Lock) -> None:
        self.writer, self.lock = writer, lock

    def __call__(self, name: str, doc: dict):
        with self.lock:
            return self.writer(name, doc)


def tiled_writer(client, *, batch_size: int = 1) -> SerialisedWriter:
    """A :class:`bluesky_tiled_plugins.TiledWriter` into ``client`` storing every array as a file (zarr).

    ``max_array_size=0`` keeps 2-D detector frames out of the SQL tables;
    ``batch_size`` events are written per request (and the rest at the run's stop).
    Writers into the same client take turns, so a RunEngine's raw writer and a
    :class:`~xicam_gisaxs_cnn.live.LiveClassifier` can share one embedded catalog.
    """
    from bluesky_tiled_plugins import TiledWriter

    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lock = _WRITE_LOCKS.setdefault(client.context, threading.Lock())
    return SerialisedWriter(TiledWriter(client, max_array_size=0, batch_size=int(batch_size)), lock)
