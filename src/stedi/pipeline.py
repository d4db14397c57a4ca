"""`stedi run`: ingest landing files, then build every table in dependency order.

Each table is rebuilt only when something it is built from changed: its commit records a
fingerprint of its inputs (landing files, upstream snapshots, rule, parameters), so a rerun on
the same input commits nothing. Every table changes by one atomic Iceberg commit.
"""

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa

from pyiceberg.expressions import EqualTo

from .contract import SOURCES, Source
from .engines import make_engine
from .landing import validated_sql
from .storage import catalog as ice
from .storage.tombstones import Tombstones
from .storage.warehouse import Warehouse
from .schema import BUILD_ORDER, TABLES, Check, Table

CONSENT_POLICIES = ("any", "as-of")


class CheckFailed(Exception):
    """A blocking data-quality check failed; the table kept its previous snapshot."""


@dataclass(frozen=True)
class CheckResult:
    check: Check
    violations: int

    @property
    def passed(self) -> bool:
        return self.violations == 0


@dataclass
class RunResult:
    warehouse: str
    ingested: dict[str, list[str]] = field(default_factory=dict)
    committed: list[str] = field(default_factory=list)  # tables that got a new snapshot
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def unchanged(self) -> list[str]:
        return [name for name in TABLES if name not in self.committed]


def _digest(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


def run(
    warehouse: str = "lakehouse",
    source: str | None = None,
    consent_policy: str = "any",
    engine: str = "duckdb",
    progress=lambda message: None,
    tables: list[str] | None = None,
    **engine_options,
) -> RunResult:
    """Ingest new landing files from `source` (or the built-in sample into an empty warehouse)
    and bring every table up to date, or only `tables` and the tables they are built from."""
    if consent_policy not in CONSENT_POLICIES:
        raise ValueError(f"consent policy must be one of {', '.join(CONSENT_POLICIES)}, not {consent_policy!r}")
    needed = _with_inputs(tables or list(TABLES))
    wh = Warehouse.at(warehouse)
    result = RunResult(str(wh.root))
    with wh.lock(), wh.scratch() as scratch:
        tombstones = Tombstones(wh)
        copy = tombstones.copy if tombstones.hashes else None
        if source is not None:
            result.ingested = wh.ingest(source, copy)
        elif wh.is_empty():
            from .generate import generate

            progress("empty landing zone: generating the built-in sample")
            generate(scratch / "sample", customers=200, seed=0)
            result.ingested = wh.ingest(scratch / "sample")
        catalog = ice.open_catalog(str(wh.root))
        with make_engine(engine, scratch, **engine_options) as eng:
            for src in SOURCES.values():
                if src.table in needed:
                    _refresh_landing(wh, catalog, eng, src, scratch, result, progress)
            parameters = {"consent_policy": consent_policy, "salt": wh.salt()}
            salt_digest = _digest(parameters["salt"])
            try:
                for name in BUILD_ORDER:
                    if name in needed:
                        _build(wh, catalog, eng, TABLES[name], parameters, salt_digest, result, progress)
            finally:
                _record_checks(wh, catalog, result)
    return result


def _with_inputs(names: list[str]) -> set[str]:
    """`names` and every table they are built from, directly or not."""
    unknown = [name for name in names if name not in TABLES]
    if unknown:
        raise ValueError(f"no table named {', '.join(unknown)}; the tables are {', '.join(TABLES)}")
    needed, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += TABLES[name].inputs
    return needed


def _refresh_landing(wh, catalog, eng, src: Source, scratch, result: RunResult, progress) -> None:
    """Rebuild `src`'s landing table and its quarantine rows when its landing files changed."""
    files = [str(p) for p in wh.landing_files(src.name)]
    inputs = _digest(wh.landing_fingerprint(src.name), validated_sql(src, "lines"))
    landing = ice.load(catalog, str(wh.root), src.table)
    quarantine = ice.load(catalog, str(wh.root), "quarantine")
    key = f".{src.name}"
    if ice.fingerprint(landing) == inputs and ice.fingerprint(quarantine, key) == inputs:
        return
    progress(f"reading {len(files)} {src.name} landing file(s)")
    parsed = eng.parse_landing(src, files, scratch / f"parsed-{src.name}")
    parsed_input = {"parsed": (parsed, [("file", "VARCHAR"), ("record", "VARCHAR"), ("reason", "VARCHAR"), *src.columns])}
    columns = ", ".join(f'"{name}"' for name, _ in src.columns)
    rows = eng.write(f"SELECT {columns} FROM parsed WHERE reason IS NULL", parsed_input, _data_dir(wh, src.table))
    bad = eng.write(
        f"SELECT '{src.name}' AS source, '{src.name}/landing/' || regexp_replace(file, '^.*/', '') AS file, "
        "record, reason FROM parsed WHERE reason IS NOT NULL",
        parsed_input,
        _data_dir(wh, "quarantine"),
    )
    ice.replace(landing, rows, inputs)
    ice.replace(quarantine, bad, inputs, key=key, rows=EqualTo("source", src.name))
    result.committed.append(src.table)
    if "quarantine" not in result.committed:
        result.committed.append("quarantine")


def _build(wh, catalog, eng, table: Table, parameters, salt_digest, result: RunResult, progress) -> None:
    """Rebuild `table` from its rule when any of its inputs changed since its last commit."""
    upstream = {name: ice.load(catalog, str(wh.root), name) for name in table.inputs}
    snapshots = [(name, t.metadata.current_snapshot_id) for name, t in upstream.items()]
    inputs = _digest(table.sql, parameters["consent_policy"], salt_digest, snapshots)
    target = ice.load(catalog, str(wh.root), table.name)
    if ice.fingerprint(target) == inputs:
        return
    progress(f"building {table.name}")
    sources = {name: (ice.data_files(t), list(TABLES[name].columns)) for name, t in upstream.items()}
    files = eng.write(table.sql, sources, _data_dir(wh, table.name), parameters)
    _check(wh, catalog, eng, table, files, parameters, result)
    ice.replace(target, files, inputs, properties={ice.CONSENT_POLICY: parameters["consent_policy"]})
    result.committed.append(table.name)


def _check(wh, catalog, eng, table: Table, files: list[str], parameters, result: RunResult) -> None:
    """Run the table's checks on its new rows; raise CheckFailed if a blocking one fails."""
    for check in table.checks:
        inputs = {
            name: (files if name == table.name else ice.data_files(ice.load(catalog, str(wh.root), name)),
                   list(TABLES[name].columns))
            for name in check.inputs
        }
        result.checks.append(CheckResult(check, eng.count(check.sql, inputs, parameters)))
    failed = [r for r in result.checks if r.check.table == table.name and r.check.blocking and not r.passed]
    if failed:
        names = ", ".join(f"{r.check.name} ({r.violations} rows: {r.check.description})" for r in failed)
        raise CheckFailed(f"{table.name} failed its check {names}; it keeps its previous snapshot")


def _record_checks(wh, catalog, result: RunResult) -> None:
    """Append this run's check results to the data_quality table."""
    if not result.checks:
        return
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = [
        {"checked_at": now, "table_name": r.check.table, "check_name": r.check.name,
         "description": r.check.description, "blocking": r.check.blocking, "violations": r.violations}
        for r in result.checks
    ]
    table = ice.load(catalog, str(wh.root), "data_quality")
    table.append(pa.Table.from_pylist(rows, schema=ice.arrow_schema(TABLES["data_quality"])))
    result.committed.append("data_quality")


def _data_dir(wh: Warehouse, name: str):
    """A fresh folder in the table's data folder: invisible to readers until committed."""
    return wh.root / TABLES[name].location / "data" / uuid.uuid4().hex
