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

from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, EqualTo

from .contract import SOURCES, Source
from .engines import make_engine
from .generate import generate
from .landing import literal, validated_sql
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
    skipped: list[str] = field(default_factory=list)  # landing files that could not be read
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
            result.ingested, result.skipped = wh.ingest(source, copy)
        elif wh.is_empty():
            progress("empty landing zone: generating the built-in sample")
            generate(scratch / "sample", customers=200, seed=0)
            result.ingested, result.skipped = wh.ingest(scratch / "sample")
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
    """Append the rows and the quarantined lines of `src`'s landing files not read before.

    The landing table and the quarantine each bookmark the files they have read (so a run cut
    short between their commits resumes where it stopped); a new landing contract rereads all.
    """
    files = {p.name: str(p) for p in wh.landing_files(src.name)}
    contract = _digest(validated_sql(src, "lines"))
    columns = ", ".join(f'"{name}"' for name, _ in src.columns)
    targets = [  # (table, bookmark key, rows a rebuild replaces, its rows among the parsed lines)
        (src.table, "", AlwaysTrue(), f"SELECT {columns} FROM parsed WHERE reason IS NULL"),
        ("quarantine", f".{src.name}", EqualTo("source", src.name),
         f"SELECT '{src.name}' AS source, '{src.name}/landing/' || regexp_replace(file, '^.*/', '') AS file, "
         "record, reason FROM parsed WHERE reason IS NOT NULL"),
    ]
    plans = []
    for name, key, rows, sql in targets:
        table = ice.load(catalog, str(wh.root), name)
        read_before = ice.files_read(table, key) if ice.fingerprint(table, key) == contract else None
        rebuild = read_before is None or not read_before <= set(files)
        new = set(files) if rebuild else set(files) - read_before
        if new:
            bookmark = new if rebuild else new | read_before
            plans.append((name, table, key, rows if rebuild else AlwaysFalse(), sql, bookmark, new))
    if not plans:
        return
    read = sorted(set().union(*(new for *_, new in plans)))
    progress(f"reading {len(read)} new {src.name} landing file(s)")
    parsed = eng.parse_landing(src, [files[name] for name in read], scratch / f"parsed-{src.name}")
    parsed_input = {"parsed": (parsed, [("file", "VARCHAR"), ("record", "VARCHAR"), ("reason", "VARCHAR"), *src.columns])}
    for name, table, key, replaced, sql, bookmark, new in plans:
        if new != set(read):  # the other table needed more files read than this one
            sql += f" AND regexp_replace(file, '^.*/', '') IN ({', '.join(map(literal, sorted(new)))})"
        out = eng.write(sql, parsed_input, _data_dir(wh, name))
        changed = ice.replace(table, out, contract, key, replaced, {ice.FILES + key: "\n".join(sorted(bookmark))})
        if changed and name not in result.committed:
            result.committed.append(name)


def _build(wh, catalog, eng, table: Table, parameters, salt_digest, result: RunResult, progress) -> None:
    """Bring `table` up to date with its inputs: append what a grown input adds when the rule
    allows it (see `Table.appends_from`), else rebuild it, committing only if its rows changed."""
    upstream = {name: ice.load(catalog, str(wh.root), name) for name in table.inputs}
    snapshots = {name: t.metadata.current_snapshot_id for name, t in upstream.items()}
    rule = _digest(table.sql, parameters["consent_policy"], salt_digest)
    target = ice.load(catalog, str(wh.root), table.name)
    built_from = ice.upstream(target) if ice.fingerprint(target) == rule else None
    if built_from == snapshots:
        return
    sources = {name: (ice.data_files(t), list(TABLES[name].columns)) for name, t in upstream.items()}
    properties = {ice.UPSTREAM: ice.encode_upstream(snapshots), ice.CONSENT_POLICY: parameters["consent_policy"]}
    delta = _appended(table, upstream, built_from)
    current = (ice.data_files(target), list(table.columns))
    if delta is not None:
        grown, added = delta
        progress(f"appending to {table.name} what {grown} adds")
        sql = table.sql if not table.distinct else f"SELECT * FROM ({table.sql}) AS added EXCEPT SELECT * FROM {table.name}"
        files = ice.non_empty(eng.write(sql, {**sources, grown: (added, sources[grown][1]), table.name: current},
                                        _data_dir(wh, table.name), parameters))
        # The old rows passed their checks, every other input is unchanged, and the append holds
        # no row the table has: checking the appended rows checks the table.
        if files:
            _check(wh, catalog, eng, table, files, parameters, result)
        changed = ice.replace(target, files, rule, rows=AlwaysFalse(), properties=properties)
    else:
        progress(f"building {table.name}")
        files = eng.write(table.sql, sources, _data_dir(wh, table.name), parameters)
        unchanged = target.current_snapshot() is not None and not table.appends_from
        if unchanged and _same_rows(eng, files, current):
            ice.set_properties(target, {ice.FINGERPRINT: rule, **properties})
            return
        _check(wh, catalog, eng, table, files, parameters, result)
        changed = ice.replace(target, files, rule, properties=properties)
    if changed:
        result.committed.append(table.name)


def _appended(table: Table, upstream, built_from) -> tuple[str, list[str]] | None:
    """(input, its added data files) when exactly one input changed since the table was built,
    only by appending, and the table's rule lets it append; else None."""
    if built_from is None:
        return None
    changed = [name for name, t in upstream.items() if t.metadata.current_snapshot_id != built_from.get(name)]
    if len(changed) != 1 or changed[0] not in table.appends_from:
        return None
    grown = upstream[changed[0]]
    before = ice.data_files(grown, built_from[changed[0]])
    after = ice.data_files(grown)
    if before is None or not set(before) <= set(after):
        return None
    return changed[0], sorted(set(after) - set(before))


def _same_rows(eng, files: list[str], current) -> bool:
    """Whether the rebuilt rows equal the table's current rows (as a multiset)."""
    inputs = {"rebuilt": (files, current[1]), "current_rows": current}
    return eng.count(
        "(SELECT * FROM rebuilt EXCEPT ALL SELECT * FROM current_rows) "
        "UNION ALL (SELECT * FROM current_rows EXCEPT ALL SELECT * FROM rebuilt)",
        inputs,
    ) == 0


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
