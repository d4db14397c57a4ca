"""The catalog embedded in a local warehouse (SQLite, PyIceberg's SQL catalog schema), read
without PyIceberg: where each table's current metadata is, for readers that need nothing else
(`stedi query` starts faster without loading PyIceberg and PyArrow); and each table's version
hint, with which DuckDB's ``iceberg_scan`` reads a table's folder by itself."""

import json
import os
import sqlite3
from pathlib import Path

from ..schema import TABLES
from . import files
from .s3 import StorageError

EMBEDDED_CATALOG = "catalog.db"  # the SQLite file of a local warehouse's catalog
VERSION_HINT = "version-hint.text"  # in a table's metadata folder: the name of its current metadata file, less .metadata.json


def catalog_file(root: str) -> Path | None:
    """The catalog file of the local warehouse `root`; None if it has none."""
    path = Path(root, EMBEDDED_CATALOG)
    try:
        return path if path.is_file() else None
    except PermissionError:
        raise StorageError(f"cannot read {root}: permission denied") from None


def immutable(root: str) -> bool:
    """Whether the catalog of `root` is read as a file that does not change. A reader of a catalog
    in write-ahead-log mode writes a shared-memory file beside it, which it cannot in a folder it
    may not write; so read, the catalog must hold every commit (no write-ahead log beside it)."""
    return not os.access(root, os.W_OK) and not Path(root, f"{EMBEDDED_CATALOG}-wal").exists()


def current_metadata(root: str, database: str) -> dict[str, str] | None:
    """Each table with a snapshot -> its current metadata file; None if the warehouse has no catalog."""
    path = catalog_file(root)
    if path is None:
        return None
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro{'&immutable=1' if immutable(root) else ''}", uri=True) as catalog:
            metadata = dict(catalog.execute(
                "SELECT table_name, metadata_location FROM iceberg_tables WHERE table_namespace = ?", (database,)))
    except sqlite3.DatabaseError as error:
        if "no such table" in str(error):
            return {}  # a reader before the first run has created the catalog's tables
        raise StorageError(f"the catalog of {root} cannot be read: {error}") from None
    if any(moved(root, name, location) for name, location in metadata.items()):
        from .catalog import open_tables  # (PyIceberg, only for a warehouse moved or copied since it was last opened)

        open_tables(root, database=database, create=False)
        return current_metadata(root, database)
    return {name: location for name, location in metadata.items()
            if json.loads(Path(location).read_bytes()).get("current-snapshot-id") not in (None, -1)}


def moved(root: str, name: str, metadata_location: str) -> bool:
    """Whether the catalog names the metadata of the table `name` outside its folder in the
    warehouse at `root` (the warehouse was moved or copied there since)."""
    return name in TABLES and not metadata_location.startswith(files.join(root, TABLES[name].location, "metadata/"))


def write_version_hint(metadata_location: str) -> None:
    """Name `metadata_location` the table's current metadata in its version hint, atomically."""
    folder, _, name = metadata_location.rpartition("/")
    files.write_bytes(files.join(folder, VERSION_HINT), name.removesuffix(".metadata.json").encode())
