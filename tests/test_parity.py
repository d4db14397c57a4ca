"""Spark builds exactly the tables DuckDB builds, from the same rules (skipped without Java)."""

import json
import shutil

import pytest
from conftest import REAL_DATA, contents, hold_back_phone_readings, rows, write_landing

from stedi import pipeline, run
from stedi.engines.spark import java_available
from stedi.maintenance import history

pytestmark = pytest.mark.skipif(not java_available(), reason="the Spark engine needs Java, which is not installed")

SALT = "parity-test-salt"


@pytest.fixture(autouse=True)
def shared_salt(monkeypatch):
    """Both engines pseudonymise with one salt, so customer keys must agree too."""
    monkeypatch.setenv("STEDI_SALT", SALT)


def build_both(tmp_path, landing, policy="any"):
    built = {}
    for engine in ("duckdb", "spark"):
        built[engine] = tmp_path / engine
        run(str(built[engine]), str(landing), policy, engine=engine)
    return built


@pytest.mark.parametrize("policy", ["any", "as-of"])
def test_spark_and_duckdb_build_identical_tables_from_generated_data(generated, tmp_path, policy):
    landing, truth = generated
    built = build_both(tmp_path, landing, policy)
    duck, spark = contents(built["duckdb"]), contents(built["spark"])
    for table in duck:
        assert spark[table] == duck[table], table
    assert len(duck["quarantine"]) == sum(truth["quarantined"].values())


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"the public STEDI sample is not at {REAL_DATA}")
def test_spark_and_duckdb_build_identical_tables_from_the_public_sample(tmp_path):
    built = build_both(tmp_path, REAL_DATA)
    duck, spark = contents(built["duckdb"]), contents(built["spark"])
    for table in duck:
        assert spark[table] == duck[table], table


HOSTILE = [
    '{"user": "a@x.com", "timestamp": 1, "x": 1, "y": 1, "z": 1}',
    '{"USER": "a@x.com", "Timestamp": 2, "x": -0.0, "y": 1e308, "z": 5}',
    "not json", '{"user": "a@x.com"', "[1]", "   ", '{"user": "a@x.com", "User": "b", "timestamp": 1}',
    '{"user": "a:", "timestamp": 3, "x": 1, "y": 1, "z": 1, "note": "ratio:"}',
    '{"user": ":", "timestamp": 4, "x": 1, "y": 1, "z": 1}',
    '{"user": 5, "timestamp": 1, "x": 1, "y": 1, "z": 1}', '{"user": "u", "timestamp": "1", "x": 1, "y": 1, "z": 1}',
    '{"user": "u", "timestamp": 1.0, "x": 1, "y": 1, "z": 1}', '{"user": "u", "timestamp": 1, "x": NaN, "y": 1, "z": 1}',
    '{"user": "u", "timestamp": 99999999999999999999, "x": 1, "y": 1, "z": 1}',
    '{"user": "u", "timestamp": 1, "x": "1", "y": {"a": "b"}, "z": [1]}', '{"user": "Zoë \\"q\\" \\u00e9", "timestamp": 1, "x": 1, "y": 1, "z": 1}',
    # a line ends at LF only: a CRLF line, a CR between tokens, inside a string, inside garbage
    '{"user": "c@x.com", "timestamp": 6, "x": 1, "y": 1, "z": 1}\r', '{"user": "d@x.com",\r"timestamp": 7, "x": 1, "y": 1, "z": 1}',
    '{"user": "e\rf", "timestamp": 8, "x": 1, "y": 1, "z": 1}', "abc\rdef", "garbage\r",
    '{"user": "g@x.com", "timestamp": 9, "x": 1, "y": 1, "z": 1}\x1e\x1f\x1e\x1f trailing',
]


def test_spark_quarantines_hostile_lines_like_duckdb(tmp_path):
    landing = write_landing(tmp_path / "in", accelerometer=HOSTILE)
    built = build_both(tmp_path, landing)
    for table in ("accelerometer_landing", "quarantine"):
        query = f"SELECT * FROM {table}"
        assert sorted(rows(built["spark"], query), key=repr) == sorted(rows(built["duckdb"], query), key=repr)


def test_either_engine_continues_a_warehouse_the_other_built(generated, tmp_path):
    landing, _ = generated
    run(str(tmp_path / "mixed"), str(landing), engine="duckdb")
    run(str(tmp_path / "mixed"), None, "as-of", engine="spark")
    run(str(tmp_path / "duck"), str(landing), "as-of", engine="duckdb")
    assert contents(tmp_path / "mixed") == contents(tmp_path / "duck")


def test_spark_appends_and_recomputes_what_late_readings_change_like_duckdb(generated, tmp_path):
    """The incremental path (appends over grown inputs, recomputed device rows) in Spark SQL."""
    landing, truth = generated
    first, late = hold_back_phone_readings(landing, sorted(set(truth["device_owner"].values()))[:5], tmp_path)
    run(str(tmp_path / "spark"), str(first), engine="spark")
    result = run(str(tmp_path / "spark"), str(late), engine="spark")
    assert {"device_ownership", "step_trainer_trusted", "machine_learning_curated"} <= set(result.committed)
    run(str(tmp_path / "duckdb"), str(landing), engine="duckdb")
    assert contents(tmp_path / "spark") == contents(tmp_path / "duckdb")


def test_spark_recomputes_what_a_withdrawn_consent_changes_like_duckdb(generated, tmp_path, monkeypatch):
    """The recompute path over a rewritten input (a customer's consent withdrawn) in Spark SQL, with
    the tables written clustered by their recompute keys, as large ones are."""
    monkeypatch.setattr(pipeline, "CLUSTERED_ROWS", 0)
    landing, truth = generated
    owner = min(truth["device_owner"].values())
    withdrawal = write_landing(tmp_path / "withdrawal", customer=[
        {"customerName": "Pat", "email": owner, "lastUpdateDate": 1_900_000_000_000, "shareWithResearchAsOfDate": None}])
    run(str(tmp_path / "spark"), str(landing), engine="spark")
    result = run(str(tmp_path / "spark"), str(withdrawal), engine="spark")
    assert sum(stage.startswith("recomputing") for stage, _ in result.stages) == 7
    *_, before, withdrawn = history(str(tmp_path / "spark"), "accelerometer_trusted")
    assert 0 < withdrawn.deleted_rows < before.total_rows / 4  # only the files holding the customer's readings
    both = tmp_path / "both"
    shutil.copytree(landing, both)
    shutil.copy(withdrawal / "customer/landing/customer-0.json", both / "customer/landing/withdrawal.json")
    run(str(tmp_path / "duckdb"), str(both), engine="duckdb")
    assert contents(tmp_path / "spark") == contents(tmp_path / "duckdb")


ZEROS = ["-0.0", "0", "-0.0", "0.0", "-0"]  # five: enough for DuckDB to dictionary-encode a column (see DuckDBEngine.write)
FIRST_TIME = 1_700_000_000_000


@pytest.fixture(scope="module")
def signed_zeros(tmp_path_factory):
    """Both engines' warehouses after three runs over phone and device readings whose floats are
    signed zeros: the first builds every table; the second appends what a customer's new readings
    add; the third, with that customer's record updated and a new customer, rebuilds the tables and
    commits the rows the rebuild adds."""
    folder = tmp_path_factory.mktemp("zeros")
    built = {engine: folder / engine for engine in ("duckdb", "spark")}
    a = {"email": "a@x.com", "serialNumber": "S1", "lastUpdateDate": 1, "shareWithResearchAsOfDate": 1}
    b = {"email": "b@x.com", "serialNumber": "S2", "lastUpdateDate": 1, "shareWithResearchAsOfDate": 1}
    runs = [([a], a), ([], a), ([{**a, "lastUpdateDate": 2}, b], b)]  # (customer records landed, whose readings)
    for part, (customers, whose) in enumerate(runs):
        times = [FIRST_TIME + part * len(ZEROS) + i for i in range(len(ZEROS))]
        write_landing(
            folder / "in", **({"customer": customers} if customers else {}),
            accelerometer=[f'{{"user": "{whose["email"]}", "timestamp": {t}, "x": 1, "y": {z}, "z": {z}}}'
                           for t, z in zip(times, ZEROS)],
            step_trainer=[f'{{"sensorReadingTime": {t}, "serialNumber": "{whose["serialNumber"]}", '
                          f'"distanceFromObject": {z}}}' for t, z in zip(times, ZEROS)])
        for engine, warehouse in built.items():
            run(str(warehouse), str(folder / "in"), engine=engine)
    return built


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
@pytest.mark.parametrize("table, columns, order", [
    ("accelerometer_landing", "y, z", '"timestamp"'), ("accelerometer_trusted", "y, z", '"timestamp"'),
    ("step_trainer_landing", "distancefromobject", "sensorreadingtime"),
    ("step_trainer_trusted", "distancefromobject", "sensorreadingtime"),
    ("machine_learning_curated", "distancefromobject, y, z", "sensorreadingtime")])
def test_both_engines_keep_the_sign_of_zero(signed_zeros, engine, table, columns, order):
    zeros = rows(signed_zeros[engine], f"SELECT {columns} FROM {table} ORDER BY {order}")
    width = columns.count(",") + 1
    assert [repr(row) for row in zeros] == [repr((float(json.loads(z)),) * width) for z in ZEROS * 3]  # -0 is an integer: 0
