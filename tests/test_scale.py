"""Bounded memory and a light command line: a run that outgrows its memory limit stops in one
sentence with every table unchanged; the limit comes from the call or the environment."""

import subprocess
import sys

import pytest

from stedi import generate, run
from stedi.cli import main
from stedi.engines import megabytes, resolved_memory_limit
from stedi.pipeline import RunStopped
from stedi.query import QueryError, open_warehouse, query
from stedi.schema import TABLES

TOO_SMALL = "8MB"  # less than DuckDB's line reader needs for one buffer of landing lines


def _snapshots(warehouse) -> dict[str, int | None]:
    store = open_warehouse(str(warehouse))
    return {name: store.load(name).metadata.current_snapshot_id for name in TABLES}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A warehouse built from one landing folder, and a second folder of new landing files."""
    folder = tmp_path_factory.mktemp("scale")
    generate(folder / "first", customers=30, seed=1)
    generate(folder / "more", customers=30, seed=2)
    run(str(folder / "wh"), str(folder / "first"))
    return folder


def test_a_run_out_of_memory_stops_in_one_sentence_and_changes_no_table(built):
    before = _snapshots(built / "wh")
    with pytest.raises(RunStopped) as stopped:
        run(str(built / "wh"), str(built / "more"), memory_limit=TOO_SMALL)
    assert str(stopped.value) == (
        f"building customer_landing needs more memory than its limit of {TOO_SMALL}: raise it with --memory-limit "
        "or STEDI_MEMORY_LIMIT; every table is at its last committed snapshot")
    assert _snapshots(built / "wh") == before


def test_the_command_says_the_sentence_and_fails(built, monkeypatch, capsys):
    before = _snapshots(built / "wh")
    monkeypatch.setenv("STEDI_MEMORY_LIMIT", TOO_SMALL)
    assert main(["run", "--warehouse", str(built / "wh"), "--source", str(built / "more")]) == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("… ")]  # no progress
    assert line.startswith("error: building customer_landing needs more memory than its limit of 8MB")
    assert _snapshots(built / "wh") == before


def test_a_query_out_of_memory_names_the_setting(built):
    with pytest.raises(QueryError, match="raise it with --memory-limit or STEDI_MEMORY_LIMIT"):
        query(str(built / "wh"), "SELECT list(x) FROM range(5000000) AS t(x)", memory_limit="16MB")


def test_the_limit_comes_from_the_call_then_the_environment(monkeypatch):
    monkeypatch.delenv("STEDI_MEMORY_LIMIT", raising=False)
    assert resolved_memory_limit() == "1GB"
    monkeypatch.setenv("STEDI_MEMORY_LIMIT", "3GiB")
    assert resolved_memory_limit() == "3GiB"
    assert resolved_memory_limit("512MB") == "512MB"
    assert (megabytes("3GiB"), megabytes("1GB"), megabytes("2048 KiB")) == (3072, 953, 2)
    with pytest.raises(ValueError, match="a size such as 512MB"):
        resolved_memory_limit("lots")


def test_the_command_line_starts_without_the_heavy_libraries():
    heavy = ("duckdb", "pyarrow", "pyiceberg", "sqlglot", "boto3")
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, stedi.cli; print([m for m in {heavy!r} if m in sys.modules])"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_a_query_writes_nothing_where_there_is_no_warehouse(tmp_path):
    with pytest.raises(QueryError, match="is not a stedi warehouse yet"):
        query(str(tmp_path / "none"), "SELECT 1")
    assert not (tmp_path / "none").exists()
