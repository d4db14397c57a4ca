"""Read-only SQL over every table of a warehouse, landing and quarantine included (DuckDB)."""

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from .engines.duckdb import connect
from .landing import literal, quote
from .storage import catalog as ice
from .schema import TABLES


class QueryError(Exception):
    """A query the user wrote cannot run; the message is one sentence."""


@dataclass(frozen=True)
class TableInfo:
    name: str
    zone: str
    rows: int
    location: str
    last_commit: str | None


def open_warehouse(warehouse: str):
    """The root and catalog of an existing warehouse."""
    root = Path(warehouse).expanduser().resolve()
    if not (root / "catalog.db").exists():
        raise QueryError(f"{root} is not a stedi warehouse yet; run `stedi run --warehouse {warehouse}` first")
    return root, ice.open_catalog(str(root), create=False)


def connect_tables(warehouse: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per table, reading its current Iceberg snapshot."""
    root, catalog = open_warehouse(warehouse)
    con = connect()
    for name, table in TABLES.items():
        iceberg = ice.load(catalog, str(root), name, create=False)
        files = ice.data_files(iceberg) if iceberg is not None else []
        if files:
            listed = ", ".join(map(literal, files))
            body = f"SELECT * FROM read_parquet([{listed}])"
        else:
            body = "SELECT " + ", ".join(f"NULL::{t} AS {quote(c)}" for c, t in table.columns) + " WHERE false"
        con.execute(f"CREATE VIEW {name} AS {body}")
    return con


def query(warehouse: str, sql: str) -> tuple[list[str], list[tuple]]:
    """Run one read-only statement; return its column names and rows."""
    con = connect_tables(warehouse)
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
    except duckdb.Error as error:
        raise QueryError(_first_line(error)) from None


def tables(warehouse: str) -> list[TableInfo]:
    """Every table with its zone, row count, location and last commit time."""
    root, catalog = open_warehouse(warehouse)
    infos = []
    for name, table in TABLES.items():
        iceberg = ice.load(catalog, str(root), name, create=False)
        snapshot = iceberg.current_snapshot() if iceberg is not None else None
        rows = int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0
        when = (
            datetime.fromtimestamp(snapshot.timestamp_ms / 1000, timezone.utc).isoformat(timespec="seconds")
            if snapshot
            else None
        )
        infos.append(TableInfo(name, table.zone, rows, str(root / table.location), when))
    return infos


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]
