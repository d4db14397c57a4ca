"""The right to erasure: `stedi forget EMAIL`.

Forgetting a customer removes every landing line about them (their customer records, their phone
readings, the readings of the devices they own), rebuilds every table from the cleaned landing
zone with no history left behind, and keeps a tombstone (salted hashes, never the email itself)
so that ingesting an old landing file again cannot bring them back.
"""

import os
from dataclasses import dataclass

from .pipeline import run
from .query import QueryError, connect_tables, open_warehouse
from .schema import DATABASE, TABLES
from .storage import catalog as ice
from .storage import files
from .storage.tombstones import IDENTITY, Tombstones
from .storage.warehouse import Warehouse


@dataclass(frozen=True)
class ForgetResult:
    lines_removed: dict[str, int]
    devices: int


def forget(warehouse: str, email: str, catalog: str | None = None, database: str = DATABASE,
           memory_limit: str | None = None) -> ForgetResult:
    """Erase the customer with `email` from every table, file and snapshot of the warehouse, in
    `memory_limit` (see `resolved_memory_limit`) and spilling to disk past it."""
    store = open_warehouse(warehouse, catalog, database)
    wh = Warehouse.at(store.root)
    with wh.lock(), wh.spill() as spill:
        con = connect_tables(warehouse, catalog, database, memory_limit, spill)
        spellings = [spelling for (spelling,) in con.execute(  # an email matches in any case
            "SELECT DISTINCT email FROM customer_landing WHERE lower(email) = lower($email)", {"email": email}).fetchall()]
        if not spellings:
            raise QueryError(f"no customer with the email {email} in {wh.root}")
        devices = [serial for (serial,) in con.execute(
            "SELECT serialnumber FROM device_ownership WHERE lower(owner_email) = lower($email)",
            {"email": email}).fetchall()]
        con.close()
        trusted = store.load("customer_trusted", create=False)
        policy = trusted.properties.get(ice.CONSENT_POLICY, "any") if trusted is not None else "any"
        tombstones = Tombstones(wh)
        tombstones.add([*spellings, *devices])
        removed = {}
        cleaned = os.path.join(spill, "cleaned")
        for source in IDENTITY:
            removed[source] = 0
            for location in wh.landing_files(source).values():
                if not tombstones.may_mention(location, [*spellings, *devices]):
                    continue
                count = tombstones.copy(source, location, cleaned)
                if count:
                    files.copy(cleaned, location)
                removed[source] += count
        for name in TABLES:  # no snapshot, data file or manifest of the old tables survives
            store.drop(name)
            files.delete_tree(wh.path(TABLES[name].location))
        files.delete_tree(wh.path("_stedi", "scratch"))
    # the dropped tables took the consent policy along: pass it on
    run(wh.root, consent_policy=policy, catalog=catalog, database=database, memory_limit=memory_limit)
    return ForgetResult(removed, len(devices))
