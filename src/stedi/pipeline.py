"""`stedi run`: ingest landing files, then build every table in dependency order.

Each table is rebuilt only when something it is built from changed: its commit records a
fingerprint of its inputs (landing files, upstream snapshots, rule, parameters), so a rerun on
the same input commits nothing. Every table changes by one atomic Iceberg commit.
"""

import hashlib
import uuid
from dataclasses import dataclass, field

from pyiceberg.expressions import EqualTo

from .contract import SOURCES, Source
from .engines import make_engine
from .landing import validated_sql
from .storage import catalog as ice
from .storage.warehouse import Warehouse
from .tables import BUILD_ORDER, TABLES, Table

CONSENT_POLICIES = ("any", "as-of")


@dataclass
class RunResult:
    warehouse: str
    ingested: dict[str, list[str]] = field(default_factory=dict)
    committed: list[str] = field(default_factory=list)  # tables that got a new snapshot

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
        if source is not None:
            result.ingested = wh.ingest(source)
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
            for name in BUILD_ORDER:
                if name in needed:
                    _build(wh, catalog, eng, TABLES[name], parameters, salt_digest, result, progress)
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
    ice.replace(target, files, inputs)
    result.committed.append(table.name)


def _data_dir(wh: Warehouse, name: str):
    """A fresh folder in the table's data folder: invisible to readers until committed."""
    return wh.root / TABLES[name].location / "data" / uuid.uuid4().hex
