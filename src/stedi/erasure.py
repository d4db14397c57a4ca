"""The right to erasure: `stedi forget EMAIL`.

Forgetting a customer removes every landing line about them (their customer records, their phone
readings, the readings of the devices they own), rebuilds every table from the cleaned landing
zone with no history left behind, and keeps a tombstone (salted hashes, never the email itself)
so that ingesting an old landing file again cannot bring them back.
"""

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .landing import literal
from .pipeline import run
from .query import QueryError, open_warehouse
from .schema import TABLES
from .storage import catalog as ice
from .storage.tombstones import IDENTITY, Tombstones
from .storage.warehouse import Warehouse


@dataclass(frozen=True)
class ForgetResult:
    lines_removed: dict[str, int]
    devices: int


def forget(warehouse: str, email: str) -> ForgetResult:
    """Erase the customer with `email` from every table, file and snapshot of the warehouse."""
    root, catalog = open_warehouse(warehouse)
    wh = Warehouse.at(root)
    with wh.lock():
        if not _mentions(wh, catalog, email):
            raise QueryError(f"no customer with the email {email} in {root}")
        devices = _owned_devices(wh, catalog, email)
        trusted = ice.load(catalog, str(root), "customer_trusted", create=False)
        policy = trusted.properties.get(ice.CONSENT_POLICY, "any") if trusted is not None else "any"
        tombstones = Tombstones(wh)
        tombstones.add([email, *devices])
        removed = {}
        for source in IDENTITY:
            removed[source] = 0
            for path in wh.landing_files(source):
                tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
                count = tombstones.copy(source, path, tmp)
                if count:
                    os.replace(tmp, path)
                else:
                    tmp.unlink()
                removed[source] += count
        for name in TABLES:  # no snapshot, data file or manifest of the old tables survives
            if ice.load(catalog, str(root), name, create=False) is not None:
                catalog.drop_table((ice.NAMESPACE, name))
            shutil.rmtree(root / TABLES[name].location, ignore_errors=True)
        shutil.rmtree(root / "_stedi" / "scratch", ignore_errors=True)
    run(str(root), consent_policy=policy)
    return ForgetResult(removed, len(devices))


def _table_sql(catalog, root: Path, name: str) -> str:
    table = ice.load(catalog, str(root), name, create=False)
    files = ice.data_files(table) if table is not None else []
    return f"read_parquet([{', '.join(map(literal, files))}])" if files else "(SELECT NULL AS email, NULL AS owner_email WHERE false)"


def _mentions(wh: Warehouse, catalog, email: str) -> bool:
    sql = f"SELECT COUNT(*) FROM {_table_sql(catalog, wh.root, 'customer_landing')} WHERE email = $email"
    return duckdb.execute(sql, {"email": email}).fetchone()[0] > 0


def _owned_devices(wh: Warehouse, catalog, email: str) -> list[str]:
    sql = f"SELECT serialnumber FROM {_table_sql(catalog, wh.root, 'device_ownership')} WHERE owner_email = $email"
    return [serial for (serial,) in duckdb.execute(sql, {"email": email}).fetchall()]
