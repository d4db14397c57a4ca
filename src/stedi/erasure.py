"""The right to erasure: `stedi forget EMAIL`.

Forgetting a customer removes every landing line about them (their customer records, their phone
readings, the readings of the devices they own) from the landing files, and from the landing
tables and the quarantine, rewriting only the data files that hold them. A run then recomputes
what those lines touched, and every table's history is dropped: no snapshot, data file or
manifest from before survives. A tombstone (salted hashes, never the email itself) keeps an old
landing file ingested again from bringing them back.
"""

import os
from dataclasses import dataclass

from pyiceberg.expressions import In

from .contract import SOURCES, Source
from .engines import make_engine
from .landing import literal, quote
from .pipeline import Rewrite, clustered, data_dir, run
from .query import QueryError, connect_tables, open_warehouse
from .schema import DATABASE, TABLES
from .storage import catalog as ice
from .storage import files
from .storage.tombstones import Tombstones
from .storage.warehouse import Warehouse


@dataclass(frozen=True)
class ForgetResult:
    lines_removed: dict[str, int]
    devices: int


def forget(warehouse: str, email: str, catalog: str | None = None, database: str = DATABASE,
           memory_limit: str | None = None, progress=lambda message: None) -> ForgetResult:
    """Erase the customer with `email` from every table, file and snapshot of the warehouse, in
    `memory_limit` (see `resolved_memory_limit`) and spilling to disk past it. Cut short, it is
    finished by forgetting the same email again."""
    store = open_warehouse(warehouse, catalog, database)
    wh = Warehouse.at(store.root)
    removed = {source: 0 for source in SOURCES}
    rewritten = {}  # landing table -> the erasure's Rewrite
    with wh.lock(), wh.spill() as spill:
        con = connect_tables(store, memory_limit=memory_limit, spill=spill)
        spellings = [spelling for (spelling,) in con.execute(  # an email matches in any case
            "SELECT DISTINCT email FROM customer_landing WHERE lower(email) = lower($email)", {"email": email}).fetchall()]
        devices = [serial for (serial,) in con.execute(
            "SELECT serialnumber FROM device_ownership WHERE lower(owner_email) = lower($email)",
            {"email": email}).fetchall()]
        con.close()
        tombstones = Tombstones(wh)
        if not spellings and not tombstones.holds(email):
            raise QueryError(f"no customer with the email {email} in {wh.root}")
        if spellings:  # (none: an erasure cut short after its landing lines went, finished below)
            progress("erasing the customer's lines from the landing files, the landing tables and the quarantine")
            values = [*spellings, *devices]
            tombstones.add(values)
            cleaned = os.path.join(spill, "cleaned")
            for source in SOURCES:
                for location in wh.landing_files(source).values():
                    if not tombstones.may_mention(location, values):
                        continue
                    count = tombstones.copy(source, location, cleaned, mentioning=values)
                    if count:
                        files.copy(cleaned, location)
                    removed[source] += count
            _erase_quarantined(store, tombstones)
            with make_engine("duckdb", spill, memory_limit=memory_limit) as eng:
                # customer last: it is where a second try finds the person
                for source in sorted(SOURCES.values(), key=lambda s: s.name == "customer"):
                    rewritten[source.table] = _erase_rows(wh, store, eng, source, values)
    run(wh.root, catalog=catalog, database=database, memory_limit=memory_limit, progress=progress,
        rewritten={table: rewrite for table, rewrite in rewritten.items() if rewrite})
    progress("dropping every table's history")
    with wh.lock():
        for name in TABLES:
            table = store.load(name, create=False)
            if table is not None:
                ice.drop_history(table)
        files.delete_tree(wh.path("_stedi", "scratch"))  # what a run cut short left there
    return ForgetResult(removed, len(devices))


def _erase_rows(wh: Warehouse, store, eng, source: Source, values: list[str]) -> Rewrite | None:
    """Rewrite the data files of `source`'s landing table that hold lines whose identity is one of
    `values` (in any case) without those lines, in one commit; return it (None: nothing to erase)."""
    table = store.load(source.table)
    condition = f"lower({quote(source.identity)}) IN ({', '.join(literal(v.lower()) for v in values)})"
    held = eng.files_where(ice.data_files(table), condition, {})
    if not held:
        return None
    written = eng.write(f"SELECT * FROM held WHERE NOT ({condition})", {"held": (held, list(source.columns))},
                        data_dir(wh, source.table),
                        cluster_by=clustered(source.identity, sum(ice.data_file_rows(table).values())))
    before = table.metadata.current_snapshot_id
    ice.replace(table, written, ice.fingerprint(table), rows=held)
    return Rewrite(before, table.metadata.current_snapshot_id, condition)


def _erase_quarantined(store, tombstones: Tombstones) -> None:
    """Delete the quarantined lines the tombstones erase (a copy-on-write of the files holding them)."""
    table = store.load("quarantine")
    lines = table.scan(selected_fields=("source", "record")).to_arrow().to_pylist()
    erased = sorted({line["record"] for line in lines if tombstones.erased(line["source"], line["record"].encode())})
    if erased:
        table.delete(In("record", erased))
