"""Iceberg tables through PyIceberg: open the catalog, read a table's files, commit new files.

The catalog is the embedded SQLite one inside a local warehouse, or any catalog PyIceberg loads
by name (`.pyiceberg.yaml`, ``PYICEBERG_CATALOG__<NAME>__...``): ``glue`` needs no configuration.
Engines write Parquet data files; this module makes them a table's content in one atomic commit,
recording the fingerprint of the inputs they were built from so an unchanged rebuild is skipped.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
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
from sqlalchemy.exc import DatabaseError

from ..schema import DATABASE, TABLES, Table
from . import embedded, files
from .embedded import EMBEDDED_CATALOG, VERSION_HINT, write_version_hint
from .s3 import StorageError, aws_endpoint, settings

ARROW_TYPES = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}
FINGERPRINT = "stedi.inputs"  # digest of what the table is built by (rule, contract, parameters)
FILES = "stedi.files"  # landing files a landing table (or the quarantine, per source) has read
UPSTREAM = "stedi.upstream"  # snapshot of each input the table was last built from
CONSENT_POLICY = "stedi.consent-policy"
STAGES = "stedi.stages"  # on data_quality: [stage, seconds] of each stage of the last run that built a table
_DATA_FILES: dict[str, dict[str, int]] = {}  # manifest list of a snapshot -> its data files and their rows


@dataclass(frozen=True)
class Tables:
    """The lakehouse's tables: the Iceberg catalog and database that hold them, and the
    warehouse root under which their files live."""

    catalog: Catalog
    database: str
    root: str
    shared: bool  # a catalog service other warehouses may use too (not the embedded one)

    def load(self, name: str, create: bool = True) -> IcebergTable | None:
        """The Iceberg table `name`, created empty on first use when `create`."""
        try:
            table = self.catalog.load_table((self.database, name))
        except NoSuchTableError:
            if not create:
                return None
            table = self.catalog.create_table_if_not_exists(
                (self.database, name), schema=arrow_schema(TABLES[name]),
                location=files.join(self.root, TABLES[name].location))
        except DatabaseError as error:
            if create or "no such table" not in str(error):
                raise _unreadable(self.root, error) from None
            return None  # a reader before the first run has created the catalog's tables
        if self.shared and not table.location().startswith(self.root + "/"):
            raise StorageError(f"the table {self.database}.{name} of this catalog belongs to another warehouse "
                               f"({table.location()}): give this one another --database")
        return table

    def drop(self, name: str) -> None:
        """Forget the table `name` (its files stay: see `files.delete_tree`)."""
        if self.load(name, create=False) is not None:
            self.catalog.drop_table((self.database, name))


def open_tables(root: str, catalog: str | None = None, database: str = DATABASE, create: bool = True) -> Tables | None:
    """The tables of the warehouse at `root`, in the catalog named `catalog` (None: the one
    embedded in a local warehouse). A run (`create`, holding the warehouse) creates the database
    in the catalog; a reader gets None if no run has."""
    root = files.normalize(root)
    if catalog is None:
        if files.is_remote(root):
            raise StorageError("a warehouse on S3 keeps its tables in a catalog service: give --catalog glue "
                               "(or the name of a catalog configured for PyIceberg)")
        if not create and embedded.catalog_file(root) is None:
            return None
        iceberg = _embedded_catalog(root, create)
        _relocate(iceberg, root, database)
    else:
        iceberg = _named_catalog(catalog, root)
    try:
        if create:
            iceberg.create_namespace_if_not_exists(database)
        elif catalog is not None and not iceberg.namespace_exists(database):
            return None  # (the embedded catalog exists once a run has begun: its tables may be empty)
    except Exception as error:
        raise _catalog_error(catalog, error) from None
    return Tables(iceberg, database, root, shared=catalog is not None)


class _EmbeddedCatalog(SqlCatalog):
    """PyIceberg's SQL catalog, which also names each table's current metadata in its version hint."""

    def commit_table(self, table, requirements, updates):
        response = super().commit_table(table, requirements, updates)
        write_version_hint(response.metadata_location)
        return response


def _embedded_catalog(root: str, create: bool) -> SqlCatalog:
    """The warehouse's SQL catalog, kept in SQLite beside the tables (read-only where the
    warehouse is, see `embedded.immutable`)."""
    uri = f"sqlite:///{root}/{EMBEDDED_CATALOG}"
    if not create and embedded.immutable(root):
        uri = f"sqlite:///{Path(root, EMBEDDED_CATALOG).as_uri()}?mode=ro&immutable=1&uri=true"
    try:
        catalog = _EmbeddedCatalog("stedi", uri=uri, warehouse=f"file://{root}", init_catalog_tables=str(create).lower())
    except DatabaseError as error:
        raise _unreadable(root, error) from None
    if create:
        event.listen(catalog.engine, "connect", _commit_without_fsync)
        catalog.engine.dispose()  # the connection opened above had no such settings
    return catalog


def _relocate(catalog: SqlCatalog, root: str, database: str) -> None:
    """Re-point the tables of a warehouse moved or copied to `root` (see relocation.py)."""
    from .relocation import relocate

    try:
        relocate(catalog, root, database)
    except DatabaseError as error:
        raise _unreadable(root, error) from None
    except OSError as error:
        raise StorageError(f"{root} was moved or copied and its tables cannot be re-pointed to it: "
                           f"{error.strerror or error}") from None


def _named_catalog(name: str, root: str) -> Catalog:
    """The catalog PyIceberg loads by `name`; `glue` unconfigured is the AWS Glue Data Catalog.
    Where AWS is reached at another endpoint (AWS_ENDPOINT_URL), PyIceberg is told so."""
    from pyiceberg.catalog import load_catalog
    from pyiceberg.utils.config import Config

    configured = Config().get_catalog_config(name) or {}
    if not configured and name != "glue":
        raise StorageError(f"no catalog named {name} is configured: add it to .pyiceberg.yaml or set "
                           f"PYICEBERG_CATALOG__{name.upper()}__TYPE (and its URI); glue needs no configuration")
    properties = {"type": "glue", "warehouse": root}
    if configured.get("type", "glue") == "glue" or files.is_remote(root):
        s3 = settings()
        properties |= {"glue.region": s3.region, "s3.region": s3.region}
        if s3.endpoint:
            properties |= {"s3.endpoint": s3.endpoint, "glue.endpoint": aws_endpoint("glue")}
    try:
        return load_catalog(name, **(properties | configured))
    except Exception as error:
        raise _catalog_error(name, error) from None


def _unreadable(root: str, error: DatabaseError) -> StorageError:
    return StorageError(f"the catalog of {root} cannot be read: {str(error.orig).strip()}")


def _catalog_error(name: str | None, error: Exception) -> StorageError:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return StorageError(f"the catalog {name or 'of the warehouse'} cannot be used: {text}")


def _commit_without_fsync(connection, _) -> None:
    """Commits append to SQLite's write-ahead log, atomic but not synced to disk each time: the
    data and metadata files a commit points to are not synced either, and syncing after a run has
    written gigabytes made each commit wait for them (40 ms)."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[sql_type]) for name, sql_type in table.columns])


def data_files(table: IcebergTable, snapshot_id: int | None = None) -> list[str] | None:
    """Locations of the data files of the table's current (or given) snapshot, largest first
    (engines estimate a scan's rows from its first file); None if the snapshot is gone."""
    rows = data_file_rows(table, snapshot_id)
    return None if rows is None else list(rows)


def data_file_rows(table: IcebergTable, snapshot_id: int | None = None) -> dict[str, int] | None:
    """The rows of each data file of the table's current (or given) snapshot, largest file
    first; None if the snapshot is gone."""
    snapshot = table.current_snapshot() if snapshot_id is None else table.snapshot_by_id(snapshot_id)
    if snapshot is None:
        return {} if snapshot_id is None else None
    if snapshot.manifest_list not in _DATA_FILES:  # a snapshot never changes: read it once
        scan = table.scan(snapshot_id=snapshot.snapshot_id)
        tasks = sorted(scan.plan_files(), key=lambda task: task.file.file_size_in_bytes, reverse=True)
        _DATA_FILES[snapshot.manifest_list] = {task.file.file_path.removeprefix("file://"): task.file.record_count
                                               for task in tasks}
    return _DATA_FILES[snapshot.manifest_list]


def drop_empty(written: list[str]) -> list[str]:
    """Delete the Parquet files of `written` that hold no row; return the others."""
    kept, empty = [], []
    for location in written:
        with files.open_file(location) as handle:
            (kept if pq.read_metadata(handle).num_rows else empty).append(location)
    files.delete(empty)
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
    written: list[str],
    inputs: str,
    key: str = "",
    rows: BooleanExpression | list[str] = AlwaysTrue(),
    properties: dict[str, str] | None = None,
) -> bool:
    """Replace the data files holding `rows` (none: append), or the data files `rows` lists, with
    `written`, as one snapshot in one atomic commit; return whether there was anything to change
    (else only `properties` are set).

    A data file is replaced whole: each holds the rows of one `rows` filter only (the quarantine
    keeps one file set per source).
    """
    if isinstance(rows, list):
        listed = set(rows)
        old = [task.file for task in table.scan().plan_files() if task.file.file_path.removeprefix("file://") in listed]
        if len(old) != len(listed):
            raise ValueError(f"{table.name()} does not hold all the data files to replace: {sorted(listed)}")
    else:
        old = [] if rows == AlwaysFalse() else [task.file for task in table.scan(row_filter=rows).plan_files()]
    written = drop_empty(written)  # an empty append is no change
    with table.transaction() as tx:
        if table.metadata.name_mapping() is None:
            tx.set_properties({TableProperties.DEFAULT_NAME_MAPPING: table.schema().name_mapping.model_dump_json()})
        if written and not old:
            tx.add_files(written, check_duplicate_files=False)  # an "append" snapshot
        elif old:
            with tx.update_snapshot().overwrite() as overwrite:
                for data_file in old:
                    overwrite.delete_data_file(data_file)
                for data_file in parquet_files_to_data_files(table.io, tx.table_metadata, iter(written)):
                    overwrite.append_data_file(data_file)
        tx.set_properties({FINGERPRINT + key: inputs, **(properties or {})})
    return bool(written or old)


def drop_history(table: IcebergTable) -> None:
    """Keep of `table` its current rows only: no other snapshot, no file that only those refer to,
    and no record of the data files its current snapshot removed (its manifests list them, with
    their columns' bounds: an empty append leaves those manifests behind)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return
    if any(manifest.deleted_files_count for manifest in snapshot.manifests(table.io)):
        with table.transaction() as tx, tx.update_snapshot().fast_append():
            pass
    after_now = datetime.now(timezone.utc) + timedelta(days=1)
    expire_snapshots(table, after_now)
    delete_unreferenced_files(table, after_now)


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
    keep = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log),
            files.join(table.metadata_location.rpartition("/")[0], VERSION_HINT)}
    for snapshot in table.snapshots():
        keep.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            keep.add(manifest.manifest_path)
            keep.update(entry.data_file.file_path for entry in manifest.fetch_manifest_entry(table.io))
    keep = {path.removeprefix("file://") for path in keep}
    unreferenced = [
        f.location for f in files.list_files(table.location().removeprefix("file://"), recursive=True)
        if f.location not in keep and f.modified < older_than.timestamp()
    ]
    files.delete(unreferenced)
    return len(unreferenced)
