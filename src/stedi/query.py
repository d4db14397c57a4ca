"""Read-only SQL over every table of a warehouse, landing and quarantine included (DuckDB).

In a local warehouse with its embedded catalog, DuckDB reads each table's current snapshot by
itself (its iceberg extension), so a query starts without loading PyIceberg.
"""

import glob
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from .engines import MEMORY_LIMIT_VARIABLE
from .engines.duckdb import connect, reach
from .landing import literal, quote
from .schema import DATABASE, TABLES
from .storage import embedded, files

if TYPE_CHECKING:
    from .storage.catalog import Tables


class QueryError(Exception):
    """A query the user wrote cannot run; the message is one sentence."""


@dataclass(frozen=True)
class TableInfo:
    name: str
    zone: str
    rows: int
    location: str
    last_commit: str | None


def open_warehouse(warehouse: "str | os.PathLike | Tables", catalog: str | None = None, database: str = DATABASE) -> "Tables":
    """The tables of an existing warehouse (a local folder or an s3:// location; the tables
    themselves when already open, as every function taking a warehouse accepts)."""
    from .storage import catalog as ice

    if not _is_location(warehouse):
        return warehouse
    root = files.normalize(warehouse)
    store = ice.open_tables(root, catalog, database, create=False)
    if store is None:
        raise QueryError(f"{root} is not a stedi warehouse yet; run `stedi run --warehouse {warehouse}` first")
    return store


def _is_location(warehouse: "str | os.PathLike | Tables") -> bool:
    """Whether `warehouse` names a location (rather than being tables already open)."""
    return isinstance(warehouse, (str, os.PathLike))


def connect_tables(warehouse: "str | os.PathLike | Tables", catalog: str | None = None, database: str = DATABASE,
                   memory_limit: str | None = None, spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A sandboxed DuckDB connection with one view per table, reading its current Iceberg
    snapshot; each also named as Athena names it, `<database>.<table>`. It spills to `spill` past
    `memory_limit`. A local warehouse's tables are read by DuckDB's iceberg extension, without
    loading PyIceberg; tables already open (see `open_warehouse`), through PyIceberg."""
    con = connect(spill, memory_limit)
    root = files.normalize(warehouse) if _is_location(warehouse) else None
    if root and catalog is None and not files.is_remote(root):
        scans = _embedded_scans(con, root, database)
    else:
        store = open_warehouse(warehouse, catalog, database)
        root, database = store.root, store.database
        scans = _catalog_scans(con, store)
    con.execute(f"CREATE SCHEMA {quote(database)}")
    for name, table in TABLES.items():
        empty = "SELECT " + ", ".join(f"NULL::{t} AS {quote(c)}" for c, t in table.columns) + " WHERE false"
        con.execute(f"CREATE VIEW {name} AS {scans.get(name, empty)}")
        con.execute(f"CREATE VIEW {quote(database)}.{name} AS SELECT * FROM main.{name}")
    # Sandboxed: the tables' folders are the only ones a query can read (not the salt, not the raw
    # landing files, not any other file of the machine or the bucket); no extension can be loaded.
    folders = {files.join(root, table.location) for table in TABLES.values()}
    con.execute(f"SET allowed_directories = [{', '.join(literal(f + '/') for f in sorted(folders))}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _catalog_scans(con: duckdb.DuckDBPyConnection, store: "Tables") -> dict[str, str]:
    """A query of each table's current data files, through PyIceberg (any catalog)."""
    from .storage import catalog as ice

    scans = {}
    for name in TABLES:
        iceberg = store.load(name, create=False)
        data = ice.data_files(iceberg) if iceberg is not None else []
        if data:
            reach(con, data)
            scans[name] = f"SELECT * FROM read_parquet([{', '.join(map(literal, data))}])"
    return scans


def _embedded_scans(con: duckdb.DuckDBPyConnection, root: str, database: str) -> dict[str, str]:
    """A query of each table's current snapshot in the local warehouse's embedded catalog, by
    DuckDB's iceberg extension (a table without a snapshot has none)."""
    current = embedded.current_metadata(root, database)
    if current is None:
        raise QueryError(f"{root} is not a stedi warehouse yet; run `stedi run --warehouse {root}` first")
    if current:
        _load_iceberg(con)
    return {name: f"SELECT * FROM iceberg_scan({literal(location)})" for name, location in current.items()}


def _load_iceberg(con: duckdb.DuckDBPyConnection) -> None:
    """Load DuckDB's iceberg extension (and the avro one it reads manifests with) from their packages."""
    import duckdb_extension_avro
    import duckdb_extension_iceberg

    for package in (duckdb_extension_avro, duckdb_extension_iceberg):
        (extension,) = glob.glob(f"{package.__path__[0]}/extensions/*/*.duckdb_extension")
        con.execute(f"LOAD {literal(extension)}")


def query(warehouse: str, sql: str, catalog: str | None = None, database: str = DATABASE,
          memory_limit: str | None = None) -> tuple[list[str], list[tuple]]:
    """Run one read-only statement; return its column names and rows. Past `memory_limit` (see
    `resolved_memory_limit`) it spills to a temporary folder: a query writes nothing in the warehouse."""
    with tempfile.TemporaryDirectory(prefix="stedi-query-") as spill:
        return _query(connect_tables(warehouse, catalog, database, memory_limit, Path(spill)), sql)


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryError(_first_line(error)) from None
    if len(statements) != 1:
        raise QueryError("give exactly one SQL statement")
    if statements[0].type not in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
        raise QueryError("only read-only statements (SELECT) are allowed")
    try:
        cursor = con.execute(sql)
        return [d[0] for d in cursor.description], cursor.fetchall()
    except duckdb.OutOfMemoryException:
        (limit,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
        raise QueryError(f"the query needs more memory than its limit of {limit}: "
                         f"raise it with --memory-limit or {MEMORY_LIMIT_VARIABLE}") from None
    except duckdb.Error as error:
        raise QueryError(_first_line(error)) from None


def tables(warehouse: "str | Tables", catalog: str | None = None, database: str = DATABASE) -> list[TableInfo]:
    """Every table with its zone, row count, location and last commit time."""
    store = open_warehouse(warehouse, catalog, database)
    infos = []
    for name, table in TABLES.items():
        iceberg = store.load(name, create=False)
        snapshot = iceberg.current_snapshot() if iceberg is not None else None
        rows = int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0
        when = (
            datetime.fromtimestamp(snapshot.timestamp_ms / 1000, timezone.utc).isoformat(timespec="seconds")
            if snapshot
            else None
        )
        infos.append(TableInfo(name, table.zone, rows, files.join(store.root, table.location), when))
    return infos


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]
