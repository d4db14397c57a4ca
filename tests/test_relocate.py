"""A warehouse is a folder: moved or copied, it works on its own; and DuckDB reads a table's folder
by itself (its version hint)."""

import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import timedelta

import duckdb
import pytest
from conftest import contents, scalar

from stedi import run
from stedi.cli import main
from stedi.erasure import forget
from stedi.maintenance import history, vacuum
from stedi.query import _load_iceberg
from stedi.schema import TABLES
from stedi.storage import catalog as ice
from stedi.storage import relocation


@pytest.fixture
def warehouse(generated, tmp_path, salted):
    """A warehouse built from the generated landing data, then given one late customer record."""
    run(str(tmp_path / "wh"), str(generated[0]))
    late(tmp_path / "wh", tmp_path / "late-0", "late-0@x.com")
    return tmp_path / "wh"


def late(warehouse, folder, email: str, withdrawing: str | None = None) -> None:
    """Run one new customer file into `warehouse`: a new customer, and a withdrawal of consent
    (which rewrites customer_trusted and the tables after it) when `withdrawing` names one."""
    (folder / "customer/landing").mkdir(parents=True)
    lines = [f'{{"email": "{email}", "lastUpdateDate": 1}}']
    if withdrawing:
        lines.append(f'{{"email": "{withdrawing}", "lastUpdateDate": 1900000000000}}')
    (folder / "customer/landing/late.json").write_text("\n".join(lines) + "\n")
    run(str(warehouse), str(folder))


def snapshots(warehouse) -> dict[str, list[tuple[int, int]]]:
    """Each table's snapshots, each with the rows PyIceberg reads in it; every file they name is
    in `warehouse`."""
    root = str(warehouse.resolve()) + "/"
    store = ice.open_tables(str(warehouse), create=False)
    read = {}
    for name in TABLES:
        table = store.load(name, create=False)
        assert table.location().startswith(root) and table.metadata_location.startswith(root)
        for snapshot in table.snapshots():
            assert snapshot.manifest_list.startswith(root)
            for manifest in snapshot.manifests(table.io):
                assert manifest.manifest_path.startswith(root)
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                    assert entry.data_file.file_path.startswith(root)
        read[name] = [(s.snapshot_id, table.scan(snapshot_id=s.snapshot_id).to_arrow().num_rows)
                      for s in table.snapshots()]
    return read


def every_file(warehouse) -> dict[str, bytes | list[tuple]]:
    """Each file's bytes, and the embedded catalog's rows: SQLite's own files change when the
    last connection closes and checkpoints its write-ahead log, which nothing here decides."""
    found = {str(path.relative_to(warehouse)): path.read_bytes()
             for path in warehouse.rglob("*") if path.is_file() and not path.name.startswith("catalog.db")}
    with closing(sqlite3.connect(warehouse / "catalog.db")) as catalog:
        found["catalog.db"] = sorted(catalog.execute("SELECT * FROM iceberg_tables"))
    return found


def folder_counts(warehouse) -> dict[str, int]:
    """The rows of each table as DuckDB's iceberg_scan reads the table's folder, with no catalog
    and without guessing the version."""
    con = duckdb.connect()
    _load_iceberg(con)
    assert con.execute("SELECT current_setting('unsafe_enable_version_guessing')").fetchone()[0] is False
    return {name: con.execute(f"SELECT COUNT(*) FROM iceberg_scan('{warehouse / table.location}')").fetchone()[0]
            for name, table in TABLES.items()}


def test_a_moved_warehouse_reads_runs_vacuums_and_forgets_on_its_own(warehouse, tmp_path):
    before, history_before = contents(warehouse), snapshots(warehouse)
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    subprocess.run(["mv", str(warehouse), str(moved)], check=True)

    assert contents(moved) == before
    assert snapshots(moved) == history_before
    withdrawing = scalar(moved, "SELECT MIN(email) FROM customer_trusted")
    late(moved, tmp_path / "late-1", "late-1@x.com", withdrawing)
    assert scalar(moved, f"SELECT COUNT(*) FROM customer_trusted WHERE email = '{withdrawing}'") == 0
    assert len(history(str(moved), "customer_trusted")) == len(history_before["customer_trusted"]) + 1
    assert vacuum(str(moved), older_than=timedelta(0)).deleted_files > 0
    forget(str(moved), "late-0@x.com")
    assert scalar(moved, "SELECT COUNT(*) FROM customer_landing WHERE email = 'late-0@x.com'") == 0
    snapshots(moved)
    assert not warehouse.exists()


def test_a_copy_goes_on_apart_from_its_original(warehouse, tmp_path):
    before = contents(warehouse)
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(warehouse), str(copy)], check=True)
    # the original changes, and its vacuum deletes the files of its old snapshots, before the copy is first opened
    late(warehouse, tmp_path / "late-1", "late-1@x.com", scalar(warehouse, "SELECT MIN(email) FROM customer_trusted"))
    assert vacuum(str(warehouse), older_than=timedelta(0)).deleted_files > 0
    original, original_files = contents(warehouse), every_file(warehouse)
    assert original != before

    assert contents(copy) == before
    late(copy, tmp_path / "late-2", "late-2@x.com")
    assert scalar(copy, "SELECT COUNT(*) FROM customer_landing WHERE email = 'late-2@x.com'") == 1
    snapshots(copy)
    assert every_file(warehouse) == original_files
    assert contents(warehouse) == original
    assert folder_counts(copy) == {name: scalar(copy, f"SELECT COUNT(*) FROM {name}") for name in TABLES}


def test_an_interrupted_relocation_changes_nothing_and_is_done_again(warehouse, tmp_path, monkeypatch):
    before, history_before = contents(warehouse), snapshots(warehouse)
    moved = tmp_path / "moved"
    warehouse.rename(moved)
    rewrite, calls = relocation._rewrite, []

    def killed_at_the_third_table(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return rewrite(*args)

    monkeypatch.setattr(relocation, "_rewrite", killed_at_the_third_table)
    with pytest.raises(KeyboardInterrupt):
        contents(moved)
    monkeypatch.undo()
    with sqlite3.connect(moved / "catalog.db") as catalog:  # it still names where the warehouse was
        assert all(location.startswith(f"{warehouse}/")
                   for (location,) in catalog.execute("SELECT metadata_location FROM iceberg_tables"))
    assert contents(moved) == before
    assert snapshots(moved) == history_before


def test_a_warehouse_that_cannot_be_re_pointed_is_one_sentence(warehouse, tmp_path, capsys, monkeypatch):
    (tmp_path / "alone").mkdir()
    for path in warehouse.glob("catalog.db*"):  # with its write-ahead log
        shutil.copy(path, tmp_path / "alone")
    assert main(["tables", "--warehouse", str(tmp_path / "alone")]) == 1
    assert capsys.readouterr().err == (
        f"error: the catalog of {tmp_path / 'alone'} names the tables of {warehouse}, whose files are not "
        f"in {tmp_path / 'alone'}: move or copy the whole warehouse folder\n")

    moved = tmp_path / "moved"
    warehouse.rename(moved)

    def read_only(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(relocation, "_rewrite", read_only)
    assert main(["query", "--warehouse", str(moved), "SELECT COUNT(*) FROM customer_trusted"]) == 1
    assert capsys.readouterr().err == (
        f"error: {moved} was moved or copied and its tables cannot be re-pointed to it: Permission denied\n")


def test_duckdb_reads_each_table_folder_by_its_version_hint(warehouse, tmp_path):
    def stedi_counts(wh):
        return {name: scalar(wh, f"SELECT COUNT(*) FROM {name}") for name in TABLES}

    assert folder_counts(warehouse) == stedi_counts(warehouse)  # after a run, and an incremental one
    late(warehouse, tmp_path / "late-1", "late-1@x.com", scalar(warehouse, "SELECT MIN(email) FROM customer_trusted"))
    assert folder_counts(warehouse) == stedi_counts(warehouse)
    vacuum(str(warehouse), older_than=timedelta(0))
    assert folder_counts(warehouse) == stedi_counts(warehouse)
    forget(str(warehouse), "late-0@x.com")
    assert folder_counts(warehouse) == stedi_counts(warehouse)
