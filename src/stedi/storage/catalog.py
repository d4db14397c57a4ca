"""Iceberg tables through PyIceberg: open the catalog, read a table's files, commit new files.

Engines write Parquet data files; this module makes them a table's content in one atomic commit,
recording the fingerprint of the inputs they were built from so an unchanged rebuild is skipped.
"""

import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, BooleanExpression
from pyiceberg.io.pyarrow import parquet_files_to_data_files
from pyiceberg.table import Table as IcebergTable
from pyiceberg.table import TableProperties
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from ..schema import NAMESPACE, TABLES, Table

ARROW_TYPES = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}
FINGERPRINT = "stedi.inputs"  # digest of what the table is built by (rule, contract, parameters)
FILES = "stedi.files"  # landing files a landing table (or the quarantine, per source) has read
UPSTREAM = "stedi.upstream"  # snapshot of each input the table was last built from
CONSENT_POLICY = "stedi.consent-policy"
_DATA_FILES: dict[str, list[str]] = {}  # manifest list of a snapshot -> its data files


def open_catalog(root: str, create: bool = True) -> Catalog:
    """The warehouse's SQL catalog, kept in SQLite beside the tables. Only a run (`create`, under
    the warehouse lock) creates the catalog's tables and namespace, so a reader never races it."""
    catalog = SqlCatalog("stedi", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}",
                         init_catalog_tables=str(create).lower())
    if create:
        event.listen(catalog.engine, "connect", _commit_without_fsync)
        catalog.engine.dispose()  # the connection opened above had no such settings
        catalog.create_namespace_if_not_exists(NAMESPACE)
    return catalog


def _commit_without_fsync(connection, _) -> None:
    """Commits append to SQLite's write-ahead log, atomic but not synced to disk each time: the
    data and metadata files a commit points to are not synced either, and syncing after a run has
    written gigabytes made each commit wait for them (40 ms)."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[sql_type]) for name, sql_type in table.columns])


def load(catalog: Catalog, root: str, name: str, create: bool = True) -> IcebergTable | None:
    """The Iceberg table `name`, created empty on first use when `create`."""
    try:
        return catalog.load_table((NAMESPACE, name))
    except NoSuchTableError:
        if not create:
            return None
    except OperationalError:
        if create:
            raise
        return None  # a reader before the first run has created the catalog's tables
    table = TABLES[name]
    return catalog.create_table_if_not_exists(
        (NAMESPACE, name), schema=arrow_schema(table), location=f"{root}/{table.location}"
    )


def data_files(table: IcebergTable, snapshot_id: int | None = None) -> list[str] | None:
    """Paths of the data files of the table's current (or given) snapshot; None if it is gone."""
    snapshot = table.current_snapshot() if snapshot_id is None else table.snapshot_by_id(snapshot_id)
    if snapshot is None:
        return [] if snapshot_id is None else None
    if snapshot.manifest_list not in _DATA_FILES:  # a snapshot never changes: read it once
        scan = table.scan(snapshot_id=snapshot.snapshot_id)
        _DATA_FILES[snapshot.manifest_list] = [task.file.file_path.removeprefix("file://") for task in scan.plan_files()]
    return _DATA_FILES[snapshot.manifest_list]


def drop_empty(files: list[str]) -> list[str]:
    """Delete the Parquet files of `files` that hold no row; return the others."""
    kept = []
    for path in files:
        if pq.read_metadata(path).num_rows:
            kept.append(path)
        else:
            Path(path).unlink()
    return kept


def fingerprint(table: IcebergTable, key: str = "") -> str | None:
    return table.properties.get(FINGERPRINT + key)


def files_read(table: IcebergTable, key: str = "") -> set[str]:
    return set(filter(None, table.properties.get(FILES + key, "").split("\n")))


def upstream(table: IcebergTable) -> dict[str, int | None] | None:
    text = table.properties.get(UPSTREAM)
    return json.loads(text) if text else None


def encode_upstream(snapshots: dict[str, int | None]) -> str:
    return json.dumps(snapshots, sort_keys=True)


def replace(
    table: IcebergTable,
    files: list[str],
    inputs: str,
    key: str = "",
    rows: BooleanExpression = AlwaysTrue(),
    properties: dict[str, str] | None = None,
) -> bool:
    """Replace the data files holding `rows` (none: append) with `files`, as one snapshot in one
    atomic commit; return whether there was anything to change (else only `properties` are set).

    A data file is replaced whole: each holds the rows of one `rows` filter only (the quarantine
    keeps one file set per source).
    """
    old = [] if rows == AlwaysFalse() else [task.file for task in table.scan(row_filter=rows).plan_files()]
    files = drop_empty(files)  # an empty append is no change
    with table.transaction() as tx:
        if table.metadata.name_mapping() is None:
            tx.set_properties({TableProperties.DEFAULT_NAME_MAPPING: table.schema().name_mapping.model_dump_json()})
        if files and not old:
            tx.add_files(files, check_duplicate_files=False)  # an "append" snapshot
        elif old:
            with tx.update_snapshot().overwrite() as overwrite:
                for data_file in old:
                    overwrite.delete_data_file(data_file)
                for data_file in parquet_files_to_data_files(table.io, tx.table_metadata, iter(files)):
                    overwrite.append_data_file(data_file)
        tx.set_properties({FINGERPRINT + key: inputs, **(properties or {})})
    return bool(files or old)


def expire_snapshots(table: IcebergTable, older_than: datetime) -> int:
    """Expire the snapshots taken before `older_than`, never the current one; return how many."""
    current = table.metadata.current_snapshot_id
    old = [s.snapshot_id for s in table.snapshots() if s.timestamp_ms < older_than.timestamp() * 1000]
    old = [s for s in old if s != current]
    if old:
        table.maintenance.expire_snapshots().by_ids(old).commit()
    return len(old)


def delete_unreferenced_files(table: IcebergTable, older_than: datetime) -> int:
    """Delete the files under the table's location that no snapshot or metadata file refers to
    (files of expired snapshots, files of interrupted runs), if written before `older_than`."""
    table = table.refresh()
    keep = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)}
    for snapshot in table.snapshots():
        keep.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            keep.add(manifest.manifest_path)
            keep.update(entry.data_file.file_path for entry in manifest.fetch_manifest_entry(table.io))
    keep = {path.removeprefix("file://") for path in keep}
    deleted = 0
    for path in Path(table.location().removeprefix("file://")).rglob("*"):
        if path.is_file() and str(path) not in keep and path.stat().st_mtime < older_than.timestamp():
            path.unlink()
            deleted += 1
    return deleted
