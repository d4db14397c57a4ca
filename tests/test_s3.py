"""The lakehouse on S3 with its tables in the AWS Glue Data Catalog, against an AWS emulator (moto
in server mode on loopback, see the `aws` fixture): the same tables as on local disk, incremental,
erasable, one writer at a time, crash-safe, and errors in one sentence."""

import subprocess
import sys
import time

import boto3
import pytest
from conftest import contents, forget_aws_settings, moto_server

from stedi import generate, query, run
from stedi.cli import main
from stedi.maintenance import history, vacuum
from stedi.engines.spark import java_available
from stedi.schema import TABLES

needs_java = pytest.mark.skipif(not java_available(), reason="the Spark engine needs Java (17)")



@pytest.fixture
def glue(bucket) -> dict:
    """The catalog options of a test: the Glue Data Catalog, a database of the test's own."""
    return {"catalog": "glue", "database": bucket.replace("-", "_")}


def upload(folder, bucket: str, prefix: str) -> str:
    """Put a local landing folder's files under s3://bucket/prefix/; return that location."""
    s3 = boto3.client("s3")
    for path in folder.rglob("*.json"):
        s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}")
    return f"s3://{bucket}/{prefix}"


def objects(bucket: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


@pytest.fixture(scope="module")
def landing(tmp_path_factory, salted):
    """Generated landing data (120 customers) and a local warehouse built from it per policy."""
    folder = tmp_path_factory.mktemp("s3-landing")
    generate(str(folder), customers=120, seed=5)
    references = {}
    for policy in ("any", "as-of"):
        references[policy] = folder.parent / f"reference-{policy}"
        run(str(references[policy]), str(folder), policy)
    return folder, references


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=needs_java)])
@pytest.mark.parametrize("policy", ["any", "as-of"])
def test_a_warehouse_on_s3_with_the_glue_catalog_has_the_rows_of_a_local_one(landing, bucket, glue, policy, engine):
    folder, references = landing
    warehouse = f"s3://{bucket}/lakehouse"
    run(warehouse, upload(folder, bucket, "landing"), policy, engine, **glue)
    assert contents(warehouse, **glue) == contents(references[policy])
    assert run(warehouse, f"s3://{bucket}/landing", engine="duckdb" if engine == "spark" else "spark",
               **glue).committed == []  # the other engine continues where this one stopped


def test_the_commands_work_on_s3_with_nothing_but_the_standard_aws_environment(landing, bucket, aws, capsys):
    folder, references = landing
    source = upload(folder, bucket, "landing")
    warehouse = f"s3://{bucket}/lakehouse"
    assert main(["run", "--source", source, "--warehouse", warehouse, "--catalog", "glue"]) == 0
    assert main(["query", "--warehouse", warehouse, "--catalog", "glue", "--format", "csv",
                 "SELECT COUNT(*) AS n FROM stedi.machine_learning_curated"]) == 0
    assert main(["tables", "--warehouse", warehouse, "--catalog", "glue"]) == 0
    assert main(["history", "customer_trusted", "--warehouse", warehouse, "--catalog", "glue"]) == 0
    out, err = capsys.readouterr()
    expected = query(str(references["any"]), "SELECT COUNT(*) FROM machine_learning_curated")[1][0][0]
    assert f"n\n{expected}\n" in out
    assert f"s3://{bucket}/lakehouse/step_trainer/curated" in out
    assert aws["AWS_SECRET_ACCESS_KEY"] not in out + err
    glue = boto3.client("glue")
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="stedi")["TableList"]}
    assert set(tables) == set(TABLES)
    for table in tables.values():  # what Athena needs to read an Iceberg table
        assert table["Parameters"]["table_type"] == "ICEBERG"
        assert table["Parameters"]["metadata_location"].startswith(f"s3://{bucket}/lakehouse/")
        assert table["StorageDescriptor"]["Location"].startswith(f"s3://{bucket}/lakehouse/")
        assert table["StorageDescriptor"]["Columns"]


def test_an_incremental_run_reads_only_the_new_objects(tmp_path, bucket, glue, salted):
    generate(str(tmp_path / "all"), customers=60, seed=2)
    first, later = tmp_path / "first", tmp_path / "later"
    for path in (tmp_path / "all").rglob("*.json"):
        lines = path.read_bytes().splitlines(keepends=True)
        for part, chosen in ((first, lines[::2]), (later, lines[1::2])):
            target = part / path.relative_to(tmp_path / "all")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.with_name(f"{part.name}-{path.name}").write_bytes(b"".join(chosen))
    warehouse = f"s3://{bucket}/lakehouse"
    source = upload(first, bucket, "landing")
    run(warehouse, source, **glue)
    upload(later, bucket, "landing")
    second = run(warehouse, source, **glue)
    assert {source: len(names) for source, names in second.ingested.items()} == {
        source: len(list((later / source / "landing").glob("*.json"))) for source in second.ingested}
    assert run(warehouse, source, **glue).committed == []
    run(str(tmp_path / "reference"), str(tmp_path / "all"))
    got, expected = contents(warehouse, **glue), contents(tmp_path / "reference")
    for tables in (got, expected):  # quarantined lines name their files, here split in two
        tables["quarantine"] = sorted((source, record, reason) for source, _, record, reason in tables["quarantine"])
    assert got == expected


def test_forget_leaves_no_object_that_mentions_the_customer(landing, bucket, glue):
    folder, references = landing
    warehouse = f"s3://{bucket}/lakehouse"
    run(warehouse, upload(folder, bucket, "landing"), **glue)
    email = query(warehouse, "SELECT MIN(owner_email) FROM device_owners", **glue)[1][0][0]
    upload(folder, bucket, "old-copy")
    from stedi.erasure import forget

    assert any(email.encode() in body for key, body in objects(bucket).items() if key.startswith("lakehouse/"))
    result = forget(warehouse, email, **glue)
    assert result.devices >= 1
    stored = objects(bucket)
    assert any(email.encode() in body for key, body in stored.items() if key.startswith("landing/"))
    # The warehouse's objects: the sources it ingested from are the user's, not the warehouse's.
    assert [key for key, body in stored.items()  # in any case
            if key.startswith("lakehouse/") and email.lower().encode() in body.lower()] == []
    assert query(warehouse, f"SELECT COUNT(*) FROM customer_landing WHERE email = '{email}'", **glue)[1] == [(0,)]
    # Ingesting an old file again cannot bring the customer back.
    run(warehouse, f"s3://{bucket}/old-copy", **glue)
    assert query(warehouse, f"SELECT COUNT(*) FROM customer_landing WHERE email = '{email}'", **glue)[1] == [(0,)]


def test_vacuum_deletes_the_objects_of_expired_snapshots(tmp_path, bucket, glue, salted):
    generate(str(tmp_path / "in"), customers=40, seed=3)
    warehouse = f"s3://{bucket}/lakehouse"
    run(warehouse, upload(tmp_path / "in", bucket, "landing"), **glue)
    withdrawing = query(warehouse, "SELECT MIN(email) FROM customer_trusted", **glue)[1][0][0]
    (tmp_path / "more/customer/landing").mkdir(parents=True)
    (tmp_path / "more/customer/landing/withdrawal.json").write_text(
        f'{{"email": "{withdrawing}", "lastUpdateDate": 1900000000000}}\n')
    run(warehouse, upload(tmp_path / "more", bucket, "more"), **glue)
    assert len(history(warehouse, "customer_trusted", **glue)) == 2
    before = set(objects(bucket))
    result = vacuum(warehouse, older_than=__import__("datetime").timedelta(0), **glue)
    after = set(objects(bucket))
    assert result.expired_snapshots >= 1 and result.deleted_files >= 1
    assert len(before - after) == result.deleted_files
    assert [s.current for s in history(warehouse, "customer_trusted", **glue)] == [True]
    assert query(warehouse, "SELECT COUNT(*) FROM customer_trusted", **glue)[1][0][0] > 0


def test_a_second_writer_is_refused_in_one_sentence_while_the_lease_is_held(tmp_path, bucket, glue, capsys):
    from stedi.storage.warehouse import Warehouse

    warehouse = f"s3://{bucket}/lakehouse"
    options = ["--warehouse", warehouse, "--catalog", "glue", "--database", glue["database"]]
    with Warehouse.at(warehouse).lock():
        assert main(["run", *options]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: another stedi run is writing to {warehouse}; try again when it ends")
    assert err.count("\n") == 1
    assert main(["run", *options]) == 0  # released


def test_of_writers_racing_for_an_expired_lease_one_wins(bucket):
    import threading

    from stedi.storage import lease

    location = f"s3://{bucket}/_stedi/lease"
    boto3.client("s3").put_object(Bucket=bucket, Key="_stedi/lease", Body=b'{"expires": 0}')  # a killed run's
    writers = 8
    start, outcomes, release = threading.Barrier(writers), [], threading.Event()

    def writer():
        start.wait()
        try:
            with lease.lease(location, seconds=30):
                outcomes.append("won")
                release.wait(30)  # held until every other writer has tried
        except lease.Busy:
            outcomes.append("refused")

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while outcomes.count("refused") < writers - 1 and len(outcomes) < writers:
        assert time.monotonic() < deadline, outcomes
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refused"] * (writers - 1) + ["won"]


def test_a_run_killed_midway_leaves_the_tables_whole_and_a_rerun_finishes_the_work(landing, bucket, glue, aws,
                                                                                   monkeypatch):
    import os
    import signal

    folder, references = landing
    warehouse, source = f"s3://{bucket}/lakehouse", upload(folder, bucket, "landing")
    monkeypatch.setenv("STEDI_LEASE_SECONDS", "3")
    command = [sys.executable, "-m", "stedi.cli", "run", "--source", source, "--warehouse", warehouse,
               "--catalog", "glue", "--database", glue["database"]]
    killed = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=os.environ)
    for line in killed.stderr:
        if "building customer_curated" in line:  # some tables committed, others not yet
            killed.send_signal(signal.SIGKILL)
            break
    assert killed.wait() == -signal.SIGKILL
    committed = query(warehouse, "SELECT COUNT(*) FROM customer_trusted", **glue)[1][0][0]
    assert committed == query(str(references["any"]), "SELECT COUNT(*) FROM customer_trusted")[1][0][0]
    assert query(warehouse, "SELECT COUNT(*) FROM machine_learning_curated", **glue)[1] == [(0,)]
    time.sleep(3)  # the killed run's lease expires
    run(warehouse, source, **glue)
    assert contents(warehouse, **glue) == contents(references["any"])


@pytest.mark.parametrize("change, sentence", [
    ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, "error: no AWS credentials found"),
    ({"AWS_DEFAULT_REGION": None}, "error: no AWS region set"),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "error: S3 cannot be reached for s3://"),
])
def test_an_aws_environment_that_cannot_work_is_one_sentence(aws, bucket, monkeypatch, capsys, change, sentence):
    for name, value in change.items():
        monkeypatch.setenv(name, value) if value else monkeypatch.delenv(name)
    forget_aws_settings()
    try:
        code = main(["run", "--warehouse", f"s3://{bucket}/lakehouse", "--catalog", "glue"])
    finally:
        monkeypatch.undo()
        forget_aws_settings()
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(sentence) and err.count("\n") == 1, err
    assert aws["AWS_SECRET_ACCESS_KEY"] not in err


@pytest.mark.parametrize("arguments, sentence", [
    (["--warehouse", "s3://no-such-bucket-here/lakehouse", "--catalog", "glue"],
     "error: the bucket no-such-bucket-here does not exist (or is in another account)"),
    (["--warehouse", "s3://{bucket}/lakehouse"], "error: a warehouse on S3 keeps its tables in a catalog service"),
    (["--warehouse", "s3://{bucket}/lakehouse", "--catalog", "nessie"], "error: no catalog named nessie is configured"),
    (["--warehouse", "s3://{bucket}/lakehouse", "--catalog", "glue", "--source", "s3://{bucket}/nothing"],
     "error: s3://{bucket}/nothing has no customer/, accelerometer/ or step_trainer/ landing folder"),
])
def test_a_warehouse_or_catalog_that_cannot_be_used_is_one_sentence(bucket, capsys, arguments, sentence):
    assert main(["run", *(a.format(bucket=bucket) for a in arguments)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(sentence.format(bucket=bucket)) and err.count("\n") == 1, err


def test_a_glue_database_holding_another_warehouse_s_tables_is_refused(bucket, glue, capsys):
    from stedi.storage import catalog as ice

    ice.open_tables(f"s3://{bucket}/one", **glue).load("customer_trusted")
    assert main(["query", "--warehouse", f"s3://{bucket}/two", "--catalog", "glue", "--database", glue["database"],
                 "SELECT 1"]) == 1
    assert capsys.readouterr().err == (
        f"error: the table {glue['database']}.customer_trusted of this catalog belongs to another warehouse "
        f"(s3://{bucket}/one/customer/trusted): give this one another --database\n")


def test_credentials_without_permission_are_one_sentence(tmp_path, aws, monkeypatch, capsys):
    # An emulator that enforces IAM after its first three calls: a bucket, a user, their key.
    with moto_server(tmp_path / "moto.log", INITIAL_NO_AUTH_ACTION_COUNT="3") as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        boto3.client("s3").create_bucket(Bucket="guarded")
        boto3.client("iam").create_user(UserName="nobody")
        key = boto3.client("iam").create_access_key(UserName="nobody")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        forget_aws_settings()
        try:
            code = main(["run", "--warehouse", "s3://guarded/lakehouse", "--catalog", "glue"])
        finally:
            monkeypatch.undo()
            forget_aws_settings()
    err = capsys.readouterr().err
    assert code == 1
    assert err == "error: access denied to the bucket guarded: the AWS credentials in use may not write to it\n"
    assert key["SecretAccessKey"] not in err
