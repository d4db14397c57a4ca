"""Table history and housekeeping: `stedi history` and `stedi vacuum`."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .query import QueryError, open_warehouse
from .schema import DATABASE, TABLES
from .storage import catalog as ice
from .storage.warehouse import Warehouse


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: int
    committed_at: str
    operation: str
    added_rows: int
    deleted_rows: int
    total_rows: int
    current: bool


def history(warehouse: "str | ice.Tables", table: str, catalog: str | None = None,
            database: str = DATABASE) -> list[SnapshotInfo]:
    """The snapshots of `table`, oldest first (`warehouse`: see `open_warehouse`)."""
    if table not in TABLES:
        raise QueryError(f"no table named {table}; the tables are {', '.join(TABLES)}")
    iceberg = open_warehouse(warehouse, catalog, database).load(table, create=False)
    if iceberg is None:
        return []
    current = iceberg.metadata.current_snapshot_id

    def count(summary, key):
        return int(summary.get(key) or 0) if summary else 0

    return [
        SnapshotInfo(
            s.snapshot_id,
            datetime.fromtimestamp(s.timestamp_ms / 1000, timezone.utc).isoformat(timespec="seconds"),
            s.summary.operation.value if s.summary else "",
            count(s.summary, "added-records"),
            count(s.summary, "deleted-records"),
            count(s.summary, "total-records"),
            s.snapshot_id == current,
        )
        for s in sorted(iceberg.snapshots(), key=lambda s: s.timestamp_ms)
    ]


@dataclass(frozen=True)
class VacuumResult:
    expired_snapshots: int
    deleted_files: int


def vacuum(warehouse: str, older_than: timedelta, catalog: str | None = None, database: str = DATABASE) -> VacuumResult:
    """Expire every table's snapshots older than `older_than` (never the current one) and delete
    the files nothing refers to any more."""
    store = open_warehouse(warehouse, catalog, database)
    cutoff = datetime.now(timezone.utc) - older_than
    expired = deleted = 0
    with Warehouse.at(store.root).lock():
        for name in TABLES:
            table = store.load(name, create=False)
            if table is not None:
                expired += ice.expire_snapshots(table, cutoff)
                deleted += ice.delete_unreferenced_files(table, cutoff)
    return VacuumResult(expired, deleted)
