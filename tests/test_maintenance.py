"""History, vacuum and the right to erasure."""

import gzip
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from conftest import contents, rows, scalar
from test_incremental import spy_on_comparisons

from stedi import erasure, pipeline, run
from stedi.cli import main
from stedi.erasure import forget
from stedi.maintenance import history, vacuum
from stedi.query import QueryError
from stedi.schema import TABLES
from stedi.storage import catalog as ice
from stedi.storage import tombstones
from stedi.storage.warehouse import Warehouse


@pytest.fixture
def warehouse(generated, tmp_path):
    landing, truth = generated
    run(str(tmp_path / "wh"), str(landing))
    return tmp_path / "wh"


def test_history_lists_a_snapshot_per_commit(generated, warehouse, tmp_path):
    landing, truth = generated
    more = tmp_path / "more"
    shutil.copytree(landing / "customer", more / "customer")
    (more / "customer/landing/late.json").write_text('{"email": "late@x.com", "lastUpdateDate": 1}\n')
    run(str(warehouse), str(more))
    snapshots = history(str(warehouse), "customer_landing")
    assert [s.total_rows for s in snapshots] == [truth["rows"]["any"]["customer_landing"],
                                                 truth["rows"]["any"]["customer_landing"] + 1]
    assert [s.current for s in snapshots] == [False, True]


def test_history_of_an_unknown_table_is_one_clear_error(warehouse, capsys):
    assert main(["history", "nope", "--warehouse", str(warehouse)]) == 1
    assert capsys.readouterr().err.startswith("error: no table named nope")


def test_vacuum_expires_old_snapshots_and_deletes_their_files(generated, warehouse, tmp_path):
    landing, _ = generated
    more = tmp_path / "more"
    (more / "customer/landing").mkdir(parents=True)
    withdrawing = scalar(warehouse, "SELECT MIN(email) FROM customer_trusted")  # replaces a customer_trusted file
    (more / "customer/landing/withdrawal.json").write_text(
        f'{{"email": "{withdrawing}", "lastUpdateDate": 1900000000000}}\n')
    run(str(warehouse), str(more))
    table = ice.open_tables(str(warehouse)).load("customer_trusted")
    first = history(str(warehouse), "customer_trusted")[0].snapshot_id
    old_files = ({task.file.file_path for task in table.scan(snapshot_id=first).plan_files()}
                 - {task.file.file_path for task in table.scan().plan_files()})  # files only old snapshots hold
    orphan = warehouse / "customer/trusted/data/from-a-killed-run.parquet"
    orphan.write_bytes(b"partial")
    before = {name: scalar(warehouse, f"SELECT COUNT(*) FROM {name}") for name in TABLES}

    result = vacuum(str(warehouse), older_than=timedelta(0))
    assert result.expired_snapshots > 0 and result.deleted_files > len(old_files)
    assert len(history(str(warehouse), "customer_trusted")) == 1
    assert old_files and not any(Path(f).exists() for f in old_files) and not orphan.exists()
    assert {name: scalar(warehouse, f"SELECT COUNT(*) FROM {name}") for name in TABLES} == before


def test_vacuum_keeps_recent_snapshots(warehouse, capsys):
    assert main(["vacuum", "--older-than", "7d", "--warehouse", str(warehouse)]) == 0
    assert capsys.readouterr().out == "expired 0 snapshot(s), deleted 0 file(s)\n"
    with pytest.raises(SystemExit) as usage_error:
        main(["vacuum", "--older-than", "soon", "--warehouse", str(warehouse)])
    assert usage_error.value.code == 2 and "'soon' is not an age like 7d" in capsys.readouterr().err


def every_string_in(warehouse):
    """Every byte of every file, and every value of every Parquet file and manifest entry."""
    for path in warehouse.rglob("*"):
        if path.is_file():
            yield path, path.read_bytes().decode("utf-8", "replace")
            if path.suffix == ".parquet":
                yield path, repr(duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall())
    catalog = ice.open_tables(str(warehouse))
    for name in TABLES:
        yield name, repr(catalog.load(name).inspect.entries().to_pylist())


def test_forget_erases_a_customer_everywhere(generated, warehouse):
    landing, truth = generated
    # The alphabetically first owner: their values are the lower bounds in the tables' metadata.
    email = min(truth["device_owner"].values())
    (name,) = rows(warehouse, f"SELECT DISTINCT customername FROM customer_landing WHERE email = '{email}'")[0]
    assert scalar(warehouse, f"SELECT COUNT(*) FROM customer_trusted WHERE email = '{email}'") == 1
    key_rows = scalar(warehouse, "SELECT COUNT(*) FROM machine_learning_curated")

    started = datetime.now(timezone.utc).replace(microsecond=0)
    result = forget(str(warehouse), email.swapcase())  # an email matches in any case
    assert result.lines_removed["customer"] >= 1 and result.devices == 1
    for where, text in every_string_in(warehouse):  # in any case
        assert email.lower() not in text.lower() and name.lower() not in text.lower(), where
    assert scalar(warehouse, "SELECT COUNT(*) FROM customer_trusted") == len(truth["customer_trusted"]) - 1
    assert scalar(warehouse, "SELECT COUNT(*) FROM machine_learning_curated") < key_rows
    for table in TABLES:  # no history survives: one snapshot, which the erasure committed if it changed the table
        (snapshot,) = history(str(warehouse), table)
        if table in ("customer_landing", "accelerometer_landing", "customer_trusted", "machine_learning_curated"):
            assert datetime.fromisoformat(snapshot.committed_at) >= started, table

    # Ingesting the original landing files again cannot bring the customer back.
    run(str(warehouse), str(landing))
    for where, text in every_string_in(warehouse):  # in any case
        assert email.lower() not in text.lower() and name.lower() not in text.lower(), where


def test_forget_cut_short_is_finished_by_forgetting_again(generated, warehouse, monkeypatch):
    landing, truth = generated
    email = min(truth["device_owner"].values())

    def cut_short(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(erasure, "run", cut_short)
    with pytest.raises(KeyboardInterrupt):  # after the landing lines went, before the tables followed
        forget(str(warehouse), email)
    assert scalar(warehouse, f"SELECT COUNT(*) FROM customer_trusted WHERE email = '{email}'") == 1
    monkeypatch.undo()
    forget(str(warehouse), email)
    assert not any(email.lower() in text.lower() for _, text in every_string_in(warehouse))
    assert all(len(history(str(warehouse), table)) == 1 for table in TABLES)


def test_forget_rewrites_only_the_data_files_that_hold_the_person(generated, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "CLUSTERED_ROWS", 0)  # every table and landing table clustered, as large ones are
    monkeypatch.setenv("STEDI_SALT", "forget-test-salt")  # the same pseudonyms in the fresh warehouse below
    landing, truth = generated
    run(str(tmp_path / "wh"), str(landing))
    email = min(truth["device_owner"].values())
    tables = ("accelerometer_landing", "step_trainer_landing", "accelerometer_trusted", "machine_learning_curated")
    store = ice.open_tables(str(tmp_path / "wh"))
    before = {name: set(ice.data_files(store.load(name))) for name in tables}
    compared = spy_on_comparisons(monkeypatch)
    forget(str(tmp_path / "wh"), email.upper())
    for name in tables:
        after = set(ice.data_files(store.load(name)))
        assert 0 < len(before[name] - after) <= len(before[name]) / 4, name
    assert not any(email in text for _, text in every_string_in(tmp_path / "wh"))
    # the tables built from a landing table compare, of the files the erasure rewrote, only the person's rows
    (condition,) = compared["accelerometer_landing"]
    assert condition.startswith('lower("user") IN (') and f"'{email.lower()}'" in condition
    # and end as a run on the landing files without the person would
    run(str(tmp_path / "fresh"), str(tmp_path / "wh"))
    assert contents(tmp_path / "wh") == contents(tmp_path / "fresh")


@pytest.mark.parametrize("text, may", [
    ('{"user": "someone@x.com", "timestamp": 1}\n', False),
    ('{"user": "Pat.Lee@X.com", "timestamp": 1}\n', True),  # in another case
    ('{"user": "pat.lee\\u0040x.com", "timestamp": 1}\n', True),  # an escape a search cannot read
    ('{"user": "pat.lée@x.com", "timestamp": 1}\n', True),  # beyond ASCII: case folding differs
    ('{"user": "x", "serialnumber": "dev-9"}\n', True),  # the person's device
])
def test_a_landing_file_is_read_line_by_line_only_if_it_may_mention_the_person(tmp_path, monkeypatch, text, may):
    monkeypatch.setattr(tombstones, "SEARCH_BLOCK", 5)  # a value across blocks is still found
    path = tmp_path / "a.json"
    path.write_text(text)
    gzipped = tmp_path / "a.json.gz"
    gzipped.write_bytes(gzip.compress(path.read_bytes()))
    found = tombstones.Tombstones(Warehouse.at(str(tmp_path / "wh")))
    assert [found.may_mention(str(p), ["pat.lee@x.com", "dev-9"]) for p in (path, gzipped)] == [may, may]


def test_forget_an_unknown_email_is_one_clear_error(warehouse, capsys):
    with pytest.raises(QueryError, match="no customer with the email"):
        forget(str(warehouse), "nobody@x.com")
    assert main(["forget", "nobody@x.com", "--warehouse", str(warehouse)]) == 1
