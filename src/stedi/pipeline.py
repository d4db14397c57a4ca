"""`stedi run`: ingest landing files, then build every table in dependency order.

Each table is rebuilt only when something it is built from changed: its commit records a
fingerprint of its inputs (landing files, upstream snapshots, rule, parameters), so a rerun on
the same input commits nothing, and a change to columns its rule does not read leaves it as it
is. Every table changes by one atomic Iceberg commit.
"""

import hashlib
import json
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache

import pyarrow as pa

from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, EqualTo

from . import incremental
from .contract import SOURCES, Source
from .engines import MEMORY_LIMIT_VARIABLE, OutOfResources, make_engine, resolved_memory_limit
from .generate import generate
from .landing import literal, quote, resolved_max_line_bytes, validated_sql
from .schema import BUILD_ORDER, CONSENT_POLICIES, DATABASE, TABLES, Check, Table
from .storage import catalog as ice
from .storage import files
from .storage.tombstones import Tombstones
from .storage.warehouse import Warehouse


CLUSTERED_ROWS = 1_000_000  # a table this large is written clustered by its recompute key (see `_clustered`)


class CheckFailed(Exception):
    """A blocking data-quality check failed; the table kept its previous snapshot."""


class RunStopped(Exception):
    """The engine ran out of memory or disk building a table, which kept its last snapshot."""


@dataclass(frozen=True)
class CheckResult:
    check: Check
    violations: int

    @property
    def passed(self) -> bool:
        return self.violations == 0


@dataclass(frozen=True)
class Rewrite:
    """A commit that changed only rows meeting `condition` (over the table's columns and the
    `inputs` it reads): a table built from that table compares only those rows of the files the
    commit replaced, not every row of them."""
    before: int | None  # the table's snapshot before the commit
    after: int  # and after it
    condition: str
    inputs: dict = field(default_factory=dict)


@dataclass
class RunResult:
    warehouse: str
    consent_policy: str = "any"
    ingested: dict[str, list[str]] = field(default_factory=dict)
    committed: list[str] = field(default_factory=list)  # tables that got a new snapshot
    skipped: list[str] = field(default_factory=list)  # landing files that could not be read
    not_text: list[str] = field(default_factory=list)  # landing files quarantined whole: "name: why"
    checks: list[CheckResult] = field(default_factory=list)
    stages: list[tuple[str, float]] = field(default_factory=list)  # (progress message, seconds)

    @property
    def unchanged(self) -> list[str]:
        return [name for name in TABLES if name not in self.committed]


def _digest(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


def run(
    warehouse: str = "lakehouse",
    source: str | None = None,
    consent_policy: str | None = None,
    engine: str = "duckdb",
    progress=lambda message: None,
    tables: list[str] | None = None,
    catalog: str | None = None,
    database: str = DATABASE,
    memory_limit: str | None = None,
    max_line_bytes: int | None = None,
    rewritten: dict[str, Rewrite] | None = None,
    **engine_options,
) -> RunResult:
    """Ingest new landing files from `source` (or the built-in sample into an empty warehouse)
    and bring every table up to date, or only `tables` and the tables they are built from.

    The consent policy is the warehouse's: the one its tables were built under (`any` for a new
    warehouse) unless `consent_policy` changes it, which rebuilds every table.

    The warehouse and the source are local folders or ``s3://`` locations; the tables live in
    the Iceberg catalog named `catalog` (None: the one embedded in a local warehouse), in
    `database`. The engine spills to disk past `memory_limit` (see `engines.resolved_memory_limit`);
    a landing line longer than `max_line_bytes` (see `landing.resolved_max_line_bytes`) is quarantined.
    `rewritten` names the tables whose last commit, the caller's, changed only some rows (see `Rewrite`)."""
    if consent_policy not in (None, *CONSENT_POLICIES):
        raise ValueError(f"consent policy must be one of {', '.join(CONSENT_POLICIES)}, not {consent_policy!r}")
    needed = _with_inputs(tables or list(TABLES))
    limit = resolved_memory_limit(memory_limit)
    max_line_bytes = resolved_max_line_bytes(max_line_bytes)
    wh = Warehouse.at(warehouse)
    result = RunResult(str(wh.root))
    rewritten = dict(rewritten or {})  # and those this run's recomputes commit
    with wh.lock(), wh.scratch() as scratch, wh.spill() as spill:
        marks = [("ingesting new landing files", time.monotonic())]  # (stage, when it began)

        def stage(message):
            marks.append((message, time.monotonic()))
            progress(message)

        store = ice.open_tables(wh.root, catalog, database)
        tombstones = Tombstones(wh)
        copy = tombstones.copy if tombstones.hashes else None
        if source is not None:
            result.ingested, result.skipped = wh.ingest(source, copy)
        elif wh.is_empty():
            stage("empty landing zone: generating the built-in sample")
            generate(spill / "sample", customers=200, seed=0)
            result.ingested, result.skipped = wh.ingest(spill / "sample")
        load = cache(store.load)  # commits update a loaded table
        built_under = load("customer_trusted").properties.get(ice.CONSENT_POLICY)
        result.consent_policy = consent_policy or built_under or "any"
        if built_under and result.consent_policy != built_under:
            stage(f"the consent policy changes from {built_under} to {result.consent_policy}: every table "
                  "built under it is rebuilt")
        with make_engine(engine, spill, memory_limit=limit, **engine_options) as eng:
            for src in SOURCES.values():
                if src.table in needed:
                    with _stop_when_out_of_resources(src.table, limit, spill):
                        _refresh_landing(wh, load, eng, src, max_line_bytes, scratch, result, stage)
            parameters = {"consent_policy": result.consent_policy, "salt": wh.salt()}
            salt_digest = _digest(parameters["salt"])
            try:
                for name in BUILD_ORDER:
                    if name in needed:
                        with _stop_when_out_of_resources(name, limit, spill):
                            _build(wh, load, eng, TABLES[name], parameters, salt_digest, rewritten, scratch,
                                   result, stage)
            finally:
                ends = [began for _, began in marks[1:]] + [time.monotonic()]
                result.stages = [(message, round(end - began, 3)) for (message, began), end in zip(marks, ends)]
                _record_checks(load, result)
    return result


@contextmanager
def _stop_when_out_of_resources(table: str, limit: str, spill):
    """Turn the engine running out of memory or disk while building `table` into one sentence."""
    try:
        yield
    except OutOfResources as error:
        need = (f"more disk space to spill to in {spill} than is free" if error.disk else
                f"more memory than its limit of {limit}: raise it with --memory-limit or {MEMORY_LIMIT_VARIABLE}")
        raise RunStopped(f"building {table} needs {need}; every table is at its last committed snapshot") from None


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


def _refresh_landing(wh, load, eng, src: Source, max_line_bytes: int, scratch, result: RunResult, progress) -> None:
    """Append the rows and the quarantined lines of `src`'s landing files not read before.

    The landing table and the quarantine each bookmark the files they have read (so a run cut
    short between their commits resumes where it stopped); a new landing contract (or longest
    line) rereads all.
    """
    landing, hidden = wh.landing(src.name)  # name (path under <source>/landing/) -> location; hidden files
    result.skipped += [f"{location} is hidden (a name starting with . or _): not read" for location in hidden]
    contract = _digest(validated_sql(src, "lines"), max_line_bytes)
    columns = ", ".join(quote(name) for name, _ in src.columns)
    name_of_file = f"substr(file, {len(wh.landing_dir(src.name)) + 2})"  # engines read files at their location
    targets = [  # (table, bookmark key, rows a rebuild replaces, its rows among the parsed lines)
        (src.table, "", AlwaysTrue(), f"SELECT {columns} FROM parsed WHERE reason IS NULL"),
        ("quarantine", f".{src.name}", EqualTo("source", src.name),
         f"SELECT '{src.name}' AS source, '{src.name}/landing/' || {name_of_file} AS file, "
         "record, reason FROM parsed WHERE reason IS NOT NULL"),
    ]
    plans = []
    for name, key, rows, sql in targets:
        table = load(name)
        read_before = ice.files_read(table, key) if ice.fingerprint(table, key) == contract else None
        rebuild = read_before is None or not read_before <= set(landing)
        new = set(landing) if rebuild else set(landing) - read_before
        if new:
            bookmark = new if rebuild else new | read_before
            plans.append((name, table, key, rows if rebuild else AlwaysFalse(), sql, bookmark, new))
    if not plans:
        return
    read = sorted(set().union(*(new for *_, new in plans)))
    progress(f"reading {len(read)} new {src.name} landing file(s)")
    parsed, not_text = eng.parse_landing(src, [landing[name] for name in read],
                                         files.join(scratch, f"parsed-{src.name}"), max_line_bytes)
    names = {location: name for name, location in landing.items()}
    result.not_text += [f"{src.name}/landing/{names[location]}: {why}" for location, why in not_text.items()]
    parsed_input = {"parsed": (parsed, [("file", "VARCHAR"), ("record", "VARCHAR"), ("reason", "VARCHAR"), *src.columns])}
    # lines are written clustered by whose they are, so that `stedi forget` rewrites few files
    by_identity = clustered(src.identity, eng.count("SELECT * FROM parsed", parsed_input))
    for name, table, key, replaced, sql, bookmark, new in plans:
        if new != set(read):  # the other table needed more files read than this one
            sql += f" AND {name_of_file} IN ({', '.join(map(literal, sorted(new)))})"
        out = eng.write(sql, parsed_input, data_dir(wh, name), cluster_by=by_identity if name == src.table else None)
        changed = ice.replace(table, out, contract, key, replaced, {ice.FILES + key: "\n".join(sorted(bookmark))})
        if changed and name not in result.committed:
            result.committed.append(name)


def _build(wh, load, eng, table: Table, parameters, salt_digest, rewritten: dict[str, Rewrite], scratch,
           result: RunResult, progress) -> None:
    """Bring `table` up to date with its inputs. When no column its rule reads changed, keep its
    rows (see `Table.columns_read`); when they only grew, append the rows the rule adds (if it may,
    see `Table.appends_from`); else recompute the rows the changed rows can touch (if it can, see
    `Table.recompute`; the keys go to `scratch`, and the commit to `rewritten`) or rebuild it.
    Commit only the rows that changed: when none was removed, as an append, which the tables built
    from this one can follow in turn."""
    upstream = {name: load(name) for name in table.inputs}
    snapshots = {name: t.metadata.current_snapshot_id for name, t in upstream.items()}
    rule = _digest(table.sql, parameters["consent_policy"], salt_digest)
    target = load(table.name)
    built_from = ice.upstream(target) if ice.fingerprint(target) == rule else None
    if built_from == snapshots:
        return
    changes = _changes(upstream, built_from)
    rewrites = _rewrites_since(rewritten, upstream, built_from)
    if changes is not None and not _reads_changed(eng, table, changes, rewrites, progress):
        progress(f"keeping {table.name}: no column it reads changed")
        ice.replace(target, [], rule, rows=AlwaysFalse(), properties={ice.UPSTREAM: ice.encode_upstream(snapshots)})
        return
    inputs = {name: (ice.data_files(t), list(TABLES[name].columns)) for name, t in upstream.items()}
    current = (ice.data_files(target), list(table.columns))
    if changes is not None:  # the rule may read what each input held before, and what it added and removed since
        for name, (now, columns) in list(inputs.items()):
            old, new = changes.get(name, (now, now))
            added, removed = _files_since(old, new)
            inputs[incremental.before(name)] = (list(old), columns)
            inputs[incremental.added(name)], inputs[incremental.removed(name)] = (added, columns), (removed, columns)
    inputs[table.name] = current
    for rewrite in rewrites.values():
        inputs |= rewrite.inputs
    out_dir = data_dir(wh, table.name)
    grew = changes and all(set(old) <= set(new) for old, new in changes.values())  # every changed input only grew
    changed_keys = {}  # a recompute's (see below)
    if grew and set(changes) <= set(table.appends_from):
        progress(f"appending to {table.name} what {_listed(changes)} added")
        sql = incremental.delta_sql(table.sql, list(changes))
        if table.distinct:
            sql = incremental.new_rows_sql(sql, table.name, table.columns)
        # The old rows passed their checks and every input only grew: checking the appended rows
        # (none of which the table holds) checks the table.
        checked = new_rows = ice.drop_empty(eng.write(sql, inputs, out_dir, parameters))
        replaced = AlwaysFalse()
    else:
        replaced, cluster_by = AlwaysTrue(), _clustered(table, target, upstream)
        if changes and table.recompute:
            progress(f"recomputing the {table.name} rows that {'new' if grew else 'changed'} rows of "
                     f"{_listed(changes)} can change")
            recompute = table.recompute
            read = {name: _columns_read(table, name) for name in upstream}
            where = {name: rewrite.condition for name, rewrite in rewrites.items()}
            keys = eng.write(incremental.changed_keys_sql(recompute, read, where), inputs,
                             files.join(scratch, f"keys-{table.name}"), parameters, joins_as_written=True)
            changed_keys = {"changed_keys": (keys, [(recompute.key, dict(TABLES[recompute.input].columns)[recompute.key])])}
            # only the data files holding rows of those keys are read, compared and replaced
            key = quote(recompute.key)
            replaced = eng.files_where(current[0], f"{key} IN (SELECT {key} FROM changed_keys)", changed_keys)
            inputs[table.name] = current = (replaced, current[1])
            inputs |= changed_keys
            sql = incremental.recompute_sql(table.sql, table.name, recompute)
        else:
            progress(f"building {table.name}")
            sql = table.sql
        checked = new_rows = eng.write(sql, inputs, out_dir, parameters, cluster_by)
        rebuilt = (checked, current[1])
        # Compare with the table's rows (as sets where the rule makes them distinct: EXCEPT ALL is
        # several times slower); a large table that keeps duplicates, the last one built, is
        # replaced whole. A recompute compares only the rows of the keys it recomputed.
        compared = target.current_snapshot() is not None and (table.distinct or not table.appends_from)
        if compared and eng.count(*_rows_missing(current, rebuilt, table.distinct, changed_keys)) == 0:
            added = _rows_missing(rebuilt, current, table.distinct, changed_keys)
            new_rows = ice.drop_empty(eng.write(*added, data_dir(wh, table.name)))
            replaced = AlwaysFalse()
    if new_rows:
        _check(load, eng, table, checked, parameters, result)
    before = target.metadata.current_snapshot_id
    if ice.replace(target, new_rows, rule, rows=replaced, properties={
            ice.UPSTREAM: ice.encode_upstream(snapshots), ice.CONSENT_POLICY: parameters["consent_policy"]}):
        result.committed.append(table.name)
        if changed_keys:  # only the rows of the keys changed
            key, keys = quote(table.recompute.key), f"{table.name}__keys"
            rewritten[table.name] = Rewrite(before, target.metadata.current_snapshot_id,
                                            f"{key} IN (SELECT {key} FROM {keys})", {keys: changed_keys["changed_keys"]})
    if new_rows is not checked:
        files.delete_tree(out_dir)  # the rebuilt rows, compared and not committed


def clustered(column: str, rows: int) -> str | None:
    """The column a table of `rows` rows is written clustered by (see `engines.CLUSTERS`): `column`
    from `CLUSTERED_ROWS` rows on, so that changing the rows of a few of its values replaces a few
    of its data files; else None."""
    return column if rows >= CLUSTERED_ROWS else None


def _clustered(table: Table, target, upstream) -> str | None:
    """The column `table` is written clustered by: its recompute key, by the rows it holds (before
    its first build, those of the key's input); None for a table without one."""
    if table.recompute is None:
        return None
    held = ice.data_file_rows(target) or ice.data_file_rows(upstream[table.recompute.input])
    return clustered(table.recompute.key, sum(held.values()))


def _listed(names) -> str:
    """'a', 'a and b', 'a, b and c'."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _changes(upstream, built_from) -> dict[str, tuple[dict[str, int], dict[str, int]]] | None:
    """Per input changed since the table was built, the rows of each of its data files then and
    now; None when that is not known (the table never built, an input new to it, an expired snapshot)."""
    if built_from is None:
        return None
    changes = {}
    for name, t in upstream.items():
        if t.metadata.current_snapshot_id == built_from.get(name):
            continue
        if name not in built_from:
            return None
        old = ice.data_file_rows(t, built_from[name]) if built_from[name] is not None else {}
        if old is None:
            return None
        changes[name] = (old, ice.data_file_rows(t))
    return changes


def _rewrites_since(rewritten: dict[str, Rewrite], upstream, built_from) -> dict[str, Rewrite]:
    """The `rewritten` inputs whose rewrite is all that changed them since the table was built."""
    return {name: rewrite for name, rewrite in rewritten.items()
            if name in upstream and built_from is not None and name in built_from
            and built_from[name] == rewrite.before and upstream[name].metadata.current_snapshot_id == rewrite.after}


def _files_since(old, new) -> tuple[list[str], list[str]]:
    """The data files of `new` not in `old` (added since), and those of `old` not in `new` (removed)."""
    return [f for f in new if f not in old], [f for f in old if f not in new]


def _reads_changed(eng, table: Table, changes, rewrites: dict[str, Rewrite], progress) -> bool:
    """Whether an input changed, since the table was built, in the columns its rule reads: the data
    files a change added and removed hold other rows (counted, then, where the counts agree, compared:
    of an input in `rewrites`, only the rows its rewrite can have changed)."""
    if changes is None:
        return True
    for name, (old, new) in changes.items():
        added, removed = _files_since(old, new)
        if sum(old[f] for f in removed) != sum(new[f] for f in added):
            return True
        if not removed:  # the same files
            continue
        columns, read = list(TABLES[name].columns), _columns_read(table, name)
        if len(read) == len(columns):  # a commit that rewrote rows changed some (rebuilds commit only changes)
            return True
        progress(f"comparing the columns {table.name} reads of the rows rewritten in {name}")
        views = {incremental.removed(name): (removed, columns), incremental.added(name): (added, columns)}
        sql = incremental.rows_differing_sql(read, *views)
        if rewrite := rewrites.get(name):
            sql = incremental.rows_differing_sql(read, *views, rewrite.condition)
            views |= rewrite.inputs
        if read and eng.count(sql, views):
            return True
    return False


def _columns_read(table: Table, name: str) -> list[tuple[str, str]]:
    """The columns of the input `name` that the rule of `table` reads, with their types."""
    return [(column, kind) for column, kind in TABLES[name].columns if column in table.columns_read[name]]


def _rows_missing(rows, other, as_sets: bool, keys: dict) -> tuple[str, dict]:
    """The query for the rows of `rows` that `other` lacks (each is files, columns, and both sets
    where `as_sets`, or multisets), and its inputs; with `keys` (the recompute's changed_keys),
    among the rows of those keys only. Sets compare by an anti join, not EXCEPT: its DISTINCT over
    every column would hash the whole table once more, and Spark's turns -0.0 into 0.0."""
    these, others = "these_rows", "other_rows"
    if keys:
        ((key, _),) = keys["changed_keys"][1]
        these, others = (f"(SELECT * FROM {name} WHERE {quote(key)} IN (SELECT {quote(key)} FROM changed_keys))"
                         for name in (these, others))
    if as_sets:
        sql = incremental.rows_not_held_sql(these, others, rows[1])
    else:
        sql = f"SELECT * FROM {these} AS these EXCEPT ALL SELECT * FROM {others} AS others"
    return sql, {"these_rows": rows, "other_rows": other, **keys}


def _check(load, eng, table: Table, written: list[str], parameters, result: RunResult) -> None:
    """Run the table's checks on its new rows; raise CheckFailed if a blocking one fails."""
    for check in table.checks:
        inputs = {
            name: (written if name == table.name else ice.data_files(load(name)),
                   list(TABLES[name].columns))
            for name in check.inputs
        }
        result.checks.append(CheckResult(check, eng.count(check.sql, inputs, parameters)))
    failed = [r for r in result.checks if r.check.table == table.name and r.check.blocking and not r.passed]
    if failed:
        names = ", ".join(f"{r.check.name} ({r.violations} rows: {r.check.description})" for r in failed)
        raise CheckFailed(f"{table.name} failed its check {names}; it keeps its previous snapshot")


def _record_checks(load, result: RunResult) -> None:
    """Append this run's check results to the data_quality table, and set its timings of the run's
    stages (see `ice.STAGES`)."""
    if not result.checks:
        return
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")  # a build apart from the one before
    rows = [
        {"checked_at": now, "table_name": r.check.table, "check_name": r.check.name,
         "description": r.check.description, "blocking": r.check.blocking, "violations": r.violations}
        for r in result.checks
    ]
    with load("data_quality").transaction() as tx:
        tx.append(pa.Table.from_pylist(rows, schema=ice.arrow_schema(TABLES["data_quality"])))
        tx.set_properties({ice.STAGES: json.dumps(result.stages)})
    result.committed.append("data_quality")


def data_dir(wh: Warehouse, name: str) -> str:
    """A fresh folder in the table's data folder: invisible to readers until committed."""
    return wh.path(TABLES[name].location, "data", uuid.uuid4().hex)
