"""The catalog embedded in a local warehouse (SQLite, PyIceberg's SQL catalog schema), read
without PyIceberg: where each table's current metadata is, for readers that need nothing else
(`stedi query` starts faster without loading PyIceberg and PyArrow)."""

import json
import sqlite3
from pathlib import Path

from .s3 import StorageError

EMBEDDED_CATALOG = "catalog.db"  # the SQLite file of a local warehouse's catalog


def current_metadata(root: str, database: str) -> dict[str, str] | None:
    """Each table with a snapshot -> its current metadata file; None if the warehouse has no catalog."""
    path = Path(root, EMBEDDED_CATALOG)
    if not path.is_file():
        return None
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as catalog:
        try:
            metadata = dict(catalog.execute(
                "SELECT table_name, metadata_location FROM iceberg_tables WHERE table_namespace = ?", (database,)))
        except sqlite3.DatabaseError as error:
            if "no such table" in str(error):
                return {}  # a reader before the first run has created the catalog's tables
            raise StorageError(f"the catalog of {root} cannot be read: {error}") from None
    return {name: location for name, location in metadata.items()
            if json.loads(Path(location).read_bytes()).get("current-snapshot-id") not in (None, -1)}
