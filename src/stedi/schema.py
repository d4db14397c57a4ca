"""The lakehouse schema. Every table: its zone, where it lives, its columns and the rule that builds it.

Landing tables come from the landing contract; the others from one SQL file each in ``rules/``
(DuckDB dialect, transpiled for other engines): first the rule, whose inputs are the tables it
names, then the table's data-quality checks, each a query for the rows that break it, headed
``-- check NAME: what must hold`` (``-- check NAME (warn): ...`` for a check that only warns).
A rule may also say how an incremental run recomputes only part of its table (see `Recompute`),
in a section headed ``-- recompute by INPUT.KEY: which keys``, and which rows of other inputs the
recomputed keys need, in sections headed ``-- recompute narrows INPUT.COLUMN: to which values``.
"""

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .contract import SOURCES

DATABASE = "stedi"  # the default database (Iceberg namespace) of the tables
CONSENT_POLICIES = ("any", "as-of")  # which readings consent covers: all, or those from its date on
LANDING_TABLE = "_table"  # a landing table's folder, under <source>/landing/ beside the files it holds
SECTION_HEADER = re.compile(r"^-- (check|recompute by|recompute narrows) ([\w.]+)( \(warn\))?: (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Check:
    table: str
    name: str
    description: str
    sql: str  # the rows that break the check
    blocking: bool = True

    @property
    def inputs(self) -> list[str]:
        return tables_named(self.sql)


@dataclass(frozen=True)
class Recompute:
    """The table's rows for each value of `key` depend only on the rows of `input` with that key
    (and on its other inputs whole). When its inputs changed, an incremental run recomputes the
    rows of the keys `sql` selects: those the changed rows can change (it reads each input's rows
    added or removed as ``<input>__changed``, in the columns the rule reads; empty for an input
    that did not change).

    Each of `narrowed` (input, column, values) reads, of another input, only the rows whose
    `column` holds one of the values its query selects from the inputs restricted to those keys:
    the rows the recomputed keys can meet (a join on that column), which spares the rule the rest."""

    input: str
    key: str
    sql: str
    narrowed: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class RuleFile:
    sql: str
    checks: tuple[Check, ...]
    recompute: Recompute | None


@dataclass(frozen=True)
class Table:
    name: str
    zone: str
    location: str  # relative to the warehouse root
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)
    rule: str | None = None  # SQL rule file in rules/, None for landing and quarantine
    # Inputs the rule only joins and filters (see `incremental`): when only these changed, and
    # only by growing, the table appends the rows the rule adds (minus rows it holds, if `distinct`).
    appends_from: tuple[str, ...] = ()
    distinct: bool = False

    @property
    def sql(self) -> str:
        return _rule_file(self.rule).sql

    @property
    def checks(self) -> tuple[Check, ...]:
        return _rule_file(self.rule).checks if self.rule else ()

    @property
    def recompute(self) -> Recompute | None:
        return _rule_file(self.rule).recompute if self.rule else None

    @property
    def inputs(self) -> list[str]:
        """Tables the rule reads, in the order it names them (none for landing tables)."""
        return tables_named(self.sql) if self.rule else []

    @property
    def columns_read(self) -> dict[str, frozenset[str]]:
        """The columns of each input the rule reads: a change to the others cannot change the table."""
        return columns_read(self.sql)


@cache
def _rule_file(rule: str) -> RuleFile:
    """The rule's SQL, its checks and how it recomputes, from rules/<rule>.sql."""
    text = resources.files("stedi.rules").joinpath(f"{rule}.sql").read_text()
    parts = SECTION_HEADER.split(text)  # rule, then (kind, name, warn, description, sql) per section
    checks, recompute, narrowed = [], None, []
    for kind, name, warn, description, sql in zip(*[iter(parts[1:])] * 5):
        if kind == "check":
            checks.append(Check(rule, name, description, sql.strip(), blocking=not warn))
        elif kind == "recompute by":
            recompute = Recompute(*name.split("."), sql.strip())  # its description is for readers
        else:
            narrowed.append((*name.split("."), sql.strip()))
    if recompute is not None:
        recompute = Recompute(recompute.input, recompute.key, recompute.sql, tuple(narrowed))
    return RuleFile(parts[0].strip(), tuple(checks), recompute)


@cache
def parsed(sql: str):
    """`sql` (DuckDB dialect) parsed once per process; copy it before changing it."""
    import sqlglot  # only where a rule is read: the command line starts without it

    return sqlglot.parse_one(sql, read="duckdb")


@cache
def tables_named(sql: str) -> list[str]:
    """The lakehouse tables `sql` reads, in the order it names them."""
    from sqlglot import exp

    names = [t.name for t in parsed(sql).find_all(exp.Table)]
    return list(dict.fromkeys(n for n in names if n in TABLES))


@cache
def columns_read(sql: str) -> dict[str, frozenset[str]]:
    """The columns of each lakehouse table that `sql` reads (every column of a table whose
    columns it names in a way this cannot resolve)."""
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope

    schema = {name: dict(table.columns) for name, table in TABLES.items()}
    tree = qualify(parsed(sql).copy(), schema=schema, dialect="duckdb", validate_qualify_columns=False)
    read: dict[str, set[str]] = {name: set() for name in tables_named(sql)}
    for scope in traverse_scope(tree):
        for column in scope.columns:
            outer = scope  # a correlated subquery names the tables of the query around it
            while outer is not None and column.table not in outer.sources:
                outer = outer.parent
            if outer is None:
                return {name: frozenset(schema[name]) for name in read}
            source = outer.sources[column.table]
            if isinstance(source, exp.Table) and source.name in read:
                read[source.name].add(column.name)
    return {name: frozenset(columns) for name, columns in read.items()}


_CUSTOMER = SOURCES["customer"].columns
_ACCELEROMETER = SOURCES["accelerometer"].columns
_STEP_TRAINER = SOURCES["step_trainer"].columns

QUARANTINE_COLUMNS = (("source", "VARCHAR"), ("file", "VARCHAR"), ("record", "VARCHAR"), ("reason", "VARCHAR"))
DATA_QUALITY_COLUMNS = (
    ("checked_at", "VARCHAR"),
    ("table_name", "VARCHAR"),
    ("check_name", "VARCHAR"),
    ("description", "VARCHAR"),
    ("blocking", "BOOLEAN"),
    ("violations", "BIGINT"),
)

_ALL = [
    *(Table(s.table, "landing", f"{s.name}/landing/{LANDING_TABLE}", tuple(s.columns)) for s in SOURCES.values()),
    Table("quarantine", "landing", "quarantine", QUARANTINE_COLUMNS),
    Table("customer_trusted", "trusted", "customer/trusted", tuple(_CUSTOMER), "customer_trusted"),
    Table("accelerometer_trusted", "trusted", "accelerometer/trusted", tuple(_ACCELEROMETER), "accelerometer_trusted",
          appends_from=("accelerometer_landing", "customer_trusted"), distinct=True),
    Table("customer_curated", "curated", "customer/curated", tuple(_CUSTOMER), "customer_curated",
          appends_from=("customer_trusted", "accelerometer_trusted"), distinct=True),
    Table(
        "device_ownership",
        "trusted",
        "step_trainer/device_ownership",
        (
            ("serialnumber", "VARCHAR"),
            ("owner_email", "VARCHAR"),
            ("matched_times", "BIGINT"),
            ("total_times", "BIGINT"),
            ("coverage", "DOUBLE"),
            ("candidates", "BIGINT"),
            ("declared_serial_agrees", "BOOLEAN"),
        ),
        "device_ownership",
    ),
    Table("device_owners", "trusted", "step_trainer/device_owners",
          (("serialnumber", "VARCHAR"), ("owner_email", "VARCHAR")), "device_owners"),
    Table("step_trainer_trusted", "trusted", "step_trainer/trusted", tuple(_STEP_TRAINER), "step_trainer_trusted",
          appends_from=("step_trainer_landing", "device_owners", "customer_curated"), distinct=True),
    Table(
        "machine_learning_curated",
        "curated",
        "step_trainer/curated",
        (
            ("sensorreadingtime", "BIGINT"),
            ("serialnumber", "VARCHAR"),
            ("distancefromobject", "DOUBLE"),
            ("x", "DOUBLE"),
            ("y", "DOUBLE"),
            ("z", "DOUBLE"),
            ("customer_key", "VARCHAR"),
        ),
        "machine_learning_curated",
        appends_from=("step_trainer_trusted", "device_owners", "accelerometer_trusted"),
    ),
    Table("data_quality", "quality", "quality", DATA_QUALITY_COLUMNS),
]

TABLES = {t.name: t for t in _ALL}

# Tables built by rules, in an order where each comes after the tables it reads.
BUILD_ORDER = [t.name for t in _ALL if t.rule]
