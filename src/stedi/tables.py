"""Every table of the lakehouse: its zone, where it lives, its columns and the rule that builds it.

Landing tables come from the landing contract; the others from one SQL rule each in ``rules/``
(DuckDB dialect, transpiled for other engines), whose inputs are the tables it names.
"""

from dataclasses import dataclass
from functools import cache
from importlib import resources

import sqlglot
from sqlglot import exp

from .contract import SOURCES

NAMESPACE = "stedi"
PARAMETERS = "run_parameters"


@dataclass(frozen=True)
class Table:
    name: str
    zone: str
    location: str  # relative to the warehouse root
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)
    rule: str | None = None  # SQL rule file in rules/, None for landing and quarantine

    @property
    def sql(self) -> str:
        return rule_sql(self.rule)

    @property
    def inputs(self) -> list[str]:
        """Tables the rule reads, in the order it names them (none for landing tables)."""
        return rule_inputs(self.rule) if self.rule else []


@cache
def rule_sql(rule: str) -> str:
    return resources.files("stedi.rules").joinpath(f"{rule}.sql").read_text()


@cache
def rule_inputs(rule: str) -> list[str]:
    names = [t.name for t in sqlglot.parse_one(rule_sql(rule), read="duckdb").find_all(exp.Table)]
    return list(dict.fromkeys(n for n in names if n in TABLES))


_CUSTOMER = SOURCES["customer"].columns
_ACCELEROMETER = SOURCES["accelerometer"].columns
_STEP_TRAINER = SOURCES["step_trainer"].columns

QUARANTINE_COLUMNS = (("source", "VARCHAR"), ("file", "VARCHAR"), ("record", "VARCHAR"), ("reason", "VARCHAR"))

_ALL = [
    *(Table(s.table, "landing", f"{s.name}/landing/_table", tuple(s.columns)) for s in SOURCES.values()),
    Table("quarantine", "landing", "quarantine", QUARANTINE_COLUMNS),
    Table("customer_trusted", "trusted", "customer/trusted", tuple(_CUSTOMER), "customer_trusted"),
    Table("accelerometer_trusted", "trusted", "accelerometer/trusted", tuple(_ACCELEROMETER), "accelerometer_trusted"),
    Table("customer_curated", "curated", "customer/curated", tuple(_CUSTOMER), "customer_curated"),
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
    Table("step_trainer_trusted", "trusted", "step_trainer/trusted", tuple(_STEP_TRAINER), "step_trainer_trusted"),
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
    ),
]

TABLES = {t.name: t for t in _ALL}

# Tables built by rules, in an order where each comes after the tables it reads.
BUILD_ORDER = [t.name for t in _ALL if t.rule]
