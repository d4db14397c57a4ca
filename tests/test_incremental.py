"""Incremental runs: each run reads only new landing files, and ends equal to a one-shot run."""

import shutil

import pytest
from conftest import contents, hold_back_phone_readings, rows, scalar, write_landing

from stedi import incremental, pipeline, run
from stedi.maintenance import history
from stedi.query import connect_tables
from stedi.schema import BUILD_ORDER, TABLES, columns_read


@pytest.fixture(autouse=True)
def shared_salt(monkeypatch):
    monkeypatch.setenv("STEDI_SALT", "incremental-test-salt")


def split_into_batches(landing, out, batches):
    """Write every landing file's lines as `batches` files, batch k holding every k-th line."""
    for path in landing.glob("*/landing/*.json"):
        lines = path.read_bytes().splitlines(keepends=True)
        for k in range(batches):
            folder = out / f"batch-{k}" / path.parent.relative_to(landing)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{path.stem}-part{k}.json").write_bytes(b"".join(lines[k::batches]))
    return [out / f"batch-{k}" for k in range(batches)]


@pytest.mark.parametrize("policy", ["any", "as-of"])
def test_runs_after_each_batch_equal_one_run_on_everything(generated, tmp_path, policy):
    landing, _ = generated
    batches = split_into_batches(landing, tmp_path / "batches", 3)
    for batch in batches:
        run(str(tmp_path / "incremental"), str(batch), policy)
    for batch in batches:  # the one-shot warehouse reads the very same files, all at once
        for path in batch.glob("*/landing/*.json"):
            target = tmp_path / "all" / path.relative_to(batch)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    run(str(tmp_path / "one-shot"), str(tmp_path / "all"), policy)
    assert contents(tmp_path / "incremental") == contents(tmp_path / "one-shot")


def test_new_phone_readings_are_appended_not_rebuilt(generated, tmp_path):
    landing, truth = generated
    run(str(tmp_path / "wh"), str(landing))
    owner = min(truth["device_owner"].values())
    late = rows(tmp_path / "wh", f"SELECT MAX(\"timestamp\") + 1 FROM accelerometer_landing WHERE \"user\" = '{owner}'")
    write_landing(tmp_path / "more", accelerometer=[{"user": owner, "timestamp": late[0][0], "x": 1, "y": 2, "z": 3}])
    result = run(str(tmp_path / "wh"), str(tmp_path / "more"))
    assert "customer_trusted" not in result.committed and "device_ownership" not in result.committed
    last = history(str(tmp_path / "wh"), "accelerometer_trusted")[-1]
    assert (last.operation, last.added_rows, last.deleted_rows) == ("append", 1, 0)
    assert last.total_rows == truth["rows"]["any"]["accelerometer_trusted"] + 1


def test_a_reading_seen_before_is_not_appended_twice(generated, tmp_path):
    landing, truth = generated
    run(str(tmp_path / "wh"), str(landing))
    (reading,) = rows(tmp_path / "wh", 'SELECT "user", "timestamp", x, y, z FROM accelerometer_trusted LIMIT 1')
    write_landing(tmp_path / "again", accelerometer=[dict(zip(["user", "timestamp", "x", "y", "z"], reading))])
    run(str(tmp_path / "wh"), str(tmp_path / "again"))
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM accelerometer_trusted") == \
        truth["rows"]["any"]["accelerometer_trusted"]


def customer(email, updated, research):
    return {"customerName": "Pat", "email": email, "lastUpdateDate": updated, "shareWithResearchAsOfDate": research}


@pytest.mark.parametrize("clustered", [False, True])
def test_withdrawn_consent_removes_the_customer_everywhere_on_the_next_run(generated, tmp_path, monkeypatch, clustered):
    if clustered:  # the tables with a recompute written clustered by its key, as large ones are
        monkeypatch.setattr(pipeline, "CLUSTERED_ROWS", 0)
    landing, truth = generated
    run(str(tmp_path / "wh"), str(landing))
    owner = min(truth["device_owner"].values())
    write_landing(tmp_path / "withdrawal", customer=[customer(owner, 1_900_000_000_000, None)])
    compared = spy_on_comparisons(monkeypatch)
    result = run(str(tmp_path / "wh"), str(tmp_path / "withdrawal"))
    for table, column in [("customer_trusted", "email"), ("customer_curated", "email"),
                          ("accelerometer_trusted", '"user"'), ("device_ownership", "owner_email")]:
        assert scalar(tmp_path / "wh", f"SELECT COUNT(*) FROM {table} WHERE {column} = '{owner}'") == 0, table
    serial = next(s for s, e in truth["device_owner"].items() if e == owner)
    for table in ("step_trainer_trusted", "machine_learning_curated"):
        assert scalar(tmp_path / "wh", f"SELECT COUNT(*) FROM {table} WHERE serialnumber = '{serial}'") == 0
    # the tables with a recompute recompute only the keys the withdrawal touches, and all end as one run would
    assert {stage.split(" rows ")[0] for stage, _ in result.stages if stage.startswith("recomputing")} == {
        f"recomputing the {table}" for table in ("customer_trusted", "accelerometer_trusted", "customer_curated",
                                                 "device_ownership", "device_owners", "step_trainer_trusted",
                                                 "machine_learning_curated")}
    # a table built after a recompute compares, of the files it replaced, only the rows of its keys
    assert compared["accelerometer_trusted"] == {'"user" IN (SELECT "user" FROM accelerometer_trusted__keys)'}
    assert compared["step_trainer_trusted"] == \
        {'"serialnumber" IN (SELECT "serialnumber" FROM step_trainer_trusted__keys)'}
    assert compared["customer_landing"] == {None}  # an ingest only adds rows: they are all compared
    if clustered:  # a recompute replaced only the data files holding rows of the customer or their device
        for table in ("customer_trusted", "accelerometer_trusted", "step_trainer_trusted", "machine_learning_curated"):
            *_, before, withdrawn = history(str(tmp_path / "wh"), table)
            assert 0 < withdrawn.deleted_rows < before.total_rows / 4, table
    both = tmp_path / "both"
    shutil.copytree(landing, both)
    shutil.copy(tmp_path / "withdrawal/customer/landing/customer-0.json", both / "customer/landing/withdrawal.json")
    run(str(tmp_path / "fresh"), str(both))
    assert contents(tmp_path / "wh") == contents(tmp_path / "fresh")


def spy_on_comparisons(monkeypatch) -> dict[str, set]:
    """Per input whose changed rows a run compares, the conditions it compares them under (None: all)."""
    compared, real = {}, incremental.rows_differing_sql

    def rows_differing_sql(columns, removed_rows, added_rows, where=None):
        compared.setdefault(removed_rows.removesuffix("__removed"), set()).add(where)
        return real(columns, removed_rows, added_rows, where)

    monkeypatch.setattr(incremental, "rows_differing_sql", rows_differing_sql)
    return compared


def test_late_consent_brings_the_customer_in_on_the_next_run(tmp_path):
    phone = [{"user": "p@x.com", "timestamp": 1_655_000_000_000 + i, "x": 1, "y": 1, "z": 1} for i in range(3)]
    device = [{"sensorReadingTime": 1_655_000_000_000 + i, "serialNumber": "dev-p", "distanceFromObject": 9}
              for i in range(3)]
    write_landing(tmp_path / "first", customer=[customer("p@x.com", 1_650_000_000_000, None)],
                  accelerometer=phone, step_trainer=device)
    run(str(tmp_path / "wh"), str(tmp_path / "first"))
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM machine_learning_curated") == 0
    write_landing(tmp_path / "consent", customer=[customer("p@x.com", 1_660_000_000_000, 1_660_000_000_000)])
    run(str(tmp_path / "wh"), str(tmp_path / "consent"))
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM machine_learning_curated") == 3


def test_coverage_that_moves_without_changing_an_owner_rebuilds_nothing_downstream(tmp_path):
    def phone(email, t):
        return {"user": email, "timestamp": t, "x": 1, "y": 1, "z": 1}

    times = range(1_655_000_000_000, 1_655_000_000_010)
    later = range(1_656_000_000_000, 1_656_000_000_010)
    write_landing(
        tmp_path / "first",
        customer=[customer("a@x.com", 1, 1), customer("b@x.com", 1, 1)],
        accelerometer=[phone("a@x.com", t) for t in times] + [phone("b@x.com", t) for t in later[:4]],
        step_trainer=[{"sensorReadingTime": t, "serialNumber": serial, "distanceFromObject": 5}
                      for serial, ts in (("dev-a", times), ("dev-b", later)) for t in ts],
    )
    run(str(tmp_path / "wh"), str(tmp_path / "first"))
    write_landing(tmp_path / "more", accelerometer=[phone("b@x.com", later[4])])
    result = run(str(tmp_path / "wh"), str(tmp_path / "more"))
    assert rows(tmp_path / "wh", "SELECT serialnumber, coverage FROM device_ownership WHERE owner_email IS NULL") == [
        ("dev-b", 0.5)]
    assert "device_ownership" in result.committed
    assert not {"device_owners", "step_trainer_trusted", "machine_learning_curated"} & set(result.committed)


def test_phone_readings_that_resolve_owners_are_appended_all_the_way_down(generated, tmp_path):
    """The owners' phone readings arrive after everything else: the next run resolves their devices,
    and every table that follows (owners, device readings, ML pairs) appends, ending equal to one run."""
    landing, truth = generated
    late_owners = sorted(set(truth["device_owner"].values()))[:5]
    first, late = hold_back_phone_readings(landing, late_owners, tmp_path)
    run(str(tmp_path / "wh"), str(first))
    owned = f"SELECT COUNT(*) FROM device_owners WHERE owner_email IN ({', '.join(map(repr, late_owners))})"
    assert scalar(tmp_path / "wh", owned) == 0

    result = run(str(tmp_path / "wh"), str(late))
    assert scalar(tmp_path / "wh", owned) == len(late_owners)
    for table in ("customer_curated", "device_owners", "step_trainer_trusted", "machine_learning_curated"):
        last = history(str(tmp_path / "wh"), table)[-1]
        assert table in result.committed and (last.operation, last.deleted_rows) == ("append", 0), table
    run(str(tmp_path / "one-shot"), str(landing))
    assert contents(tmp_path / "wh") == contents(tmp_path / "one-shot")


def test_each_rule_reads_only_the_columns_it_names():
    read = {name: {table: sorted(columns) for table, columns in TABLES[name].columns_read.items()}
            for name in ("accelerometer_trusted", "device_ownership", "step_trainer_trusted")}
    assert read == {
        "accelerometer_trusted": {"accelerometer_landing": ["timestamp", "user", "x", "y", "z"],
                                  "customer_trusted": ["email", "sharewithresearchasofdate"]},
        "device_ownership": {"accelerometer_landing": ["timestamp", "user"],
                             "customer_trusted": ["email", "serialnumber"],
                             "step_trainer_landing": ["sensorreadingtime", "serialnumber"]},
        "step_trainer_trusted": {"customer_curated": ["email", "sharewithresearchasofdate"],
                                 "device_owners": ["owner_email", "serialnumber"],
                                 "step_trainer_landing": ["distancefromobject", "sensorreadingtime", "serialnumber"]},
    }
    assert TABLES["customer_curated"].columns_read["customer_trusted"] == {c for c, _ in TABLES["customer_trusted"].columns}


def test_a_column_that_cannot_be_told_apart_counts_every_column_as_read():
    assert columns_read("SELECT email FROM customer_trusted WHERE unknown = 1") == {
        "customer_trusted": {c for c, _ in TABLES["customer_trusted"].columns}}


def changed_record(warehouse, folder, column: str):
    """The trusted record of a device owner who declared another serial, sent again with a later
    update date and `column` changed: the phone, or the serial made the device's."""
    con = connect_tables(str(warehouse))
    record = con.execute("SELECT c.*, o.serialnumber AS device FROM customer_trusted AS c "
                         "JOIN device_ownership AS o ON o.owner_email = c.email "
                         "WHERE NOT o.declared_serial_agrees ORDER BY c.email LIMIT 1")
    owner = dict(zip([d[0] for d in record.description], record.fetchone()))
    owner[column] = "8015550000" if column == "phone" else owner["device"]
    del owner["device"]
    return write_landing(folder, customer=[{**owner, "lastupdatedate": owner["lastupdatedate"] + 1}])


@pytest.mark.parametrize("column, rebuilt, kept", [
    ("phone", ["customer_trusted", "customer_curated"],
     ["accelerometer_trusted", "device_ownership", "step_trainer_trusted"]),
    # declared_serial_agrees changes; the owners do not
    ("serialnumber", ["customer_trusted", "customer_curated", "device_ownership"],
     ["accelerometer_trusted", "device_owners", "step_trainer_trusted"]),
])
def test_a_changed_record_rebuilds_only_the_tables_that_read_what_changed(generated, tmp_path, column, rebuilt, kept):
    landing, _ = generated
    run(str(tmp_path / "wh"), str(landing))
    changed = changed_record(tmp_path / "wh", tmp_path / "changed", column)
    result = run(str(tmp_path / "wh"), str(changed))
    assert [name for name in result.committed if name in BUILD_ORDER] == rebuilt
    assert [stage for stage, _ in result.stages if stage.startswith("keeping")] == [
        f"keeping {name}: no column it reads changed" for name in kept]
    assert "recomputing the customer_curated rows that changed rows of customer_trusted can change" in [
        stage for stage, _ in result.stages]  # that customer's row, not the table
    both = tmp_path / "both"  # one run on the same files ends the same
    shutil.copytree(landing, both)
    shutil.copy(changed / "customer/landing/customer-0.json", both / "customer/landing/changed.json")
    run(str(tmp_path / "fresh"), str(both))
    assert contents(tmp_path / "wh") == contents(tmp_path / "fresh")
