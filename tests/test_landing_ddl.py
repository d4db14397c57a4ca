"""The Athena landing DDL in sql/ agrees with the landing contract, column by column."""

import json
from pathlib import Path
from string import Template

import pytest
import sqlglot
from sqlglot import exp

from stedi.contract import SOURCES
from stedi.schema import TABLES

SQL = Path(__file__).resolve().parents[1] / "sql"
HIVE_TO_DUCKDB = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE"}


def ddl(source: str) -> exp.Create:
    statements = sqlglot.parse((SQL / f"{source}_landing.sql").read_text(), read="athena")
    assert len(statements) == 1, "one statement per file"
    return statements[0]


@pytest.mark.parametrize("source", SOURCES)
def test_columns_are_the_landing_tables(source):
    create = ddl(source)
    assert create.kind == "TABLE" and create.args["exists"], "CREATE ... TABLE IF NOT EXISTS"
    assert create.find(exp.ExternalProperty) is not None, "an EXTERNAL table"
    assert create.this.this.name == f"{source}_landing"
    columns = [(c.name, HIVE_TO_DUCKDB[c.args["kind"].sql("hive").lower()]) for c in create.this.expressions]
    assert columns == list(TABLES[f"{source}_landing"].columns)
    assert all(c.this.quoted for c in create.this.expressions), "backticks, as Athena needs for user and timestamp"


@pytest.mark.parametrize("source", SOURCES)
def test_reads_json_lines_case_insensitively_from_the_parameterised_landing_folder(source):
    create = ddl(source)
    serde = create.find(exp.RowFormatSerdeProperty)
    assert serde.this.name == "org.openx.data.jsonserde.JsonSerDe"
    properties = {p.this.name: p.args["value"].name for p in serde.args["serde_properties"].expressions}
    assert properties["case.insensitive"] == "true"
    assert properties["ignore.malformed.json"] == "true"
    assert create.find(exp.LocationProperty).this.name == f"${{warehouse}}/{source}/landing/"


@pytest.mark.parametrize("source", SOURCES)
def test_substituting_the_warehouse_gives_the_s3_landing_folder(source):
    text = Template((SQL / f"{source}_landing.sql").read_text()).substitute(warehouse="s3://bucket/stedi")
    create = sqlglot.parse_one(text, read="athena")
    assert create.find(exp.LocationProperty).this.name == f"s3://bucket/stedi/{source}/landing/"


def test_columns_match_the_generated_json_keys_case_insensitively(tmp_path):
    """The SerDe maps camelCase keys (customerName, sensorReadingTime) to the lower-case columns."""
    from stedi import generate

    generate(tmp_path, customers=3)
    for source in SOURCES:
        line = (tmp_path / source / "landing" / f"{source}-1.json").read_text().splitlines()[0]
        keys = [key.lower() for key in json.loads(line)]
        assert keys == [c.name for c in ddl(source).this.expressions]
