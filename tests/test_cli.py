"""The `stedi` command: each subcommand, its output formats and its errors."""

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import write_landing

from stedi import generate, run
from stedi.cli import main
from stedi.storage import catalog as store
from stedi.storage import embedded


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    landing = write_landing(
        folder / "in",
        customer=[{"email": "a@x.com", "lastUpdateDate": 1, "shareWithResearchAsOfDate": 1}, "broken"],
        accelerometer=[{"user": "a@x.com", "timestamp": 7, "x": 1, "y": 2, "z": 3}],
        step_trainer=[{"sensorReadingTime": 7, "serialNumber": "dev-1", "distanceFromObject": 40}],
    )
    assert main(["run", "--source", str(landing), "--warehouse", str(folder / "wh")]) == 0
    return str(folder / "wh")


def test_run_prints_tables_and_the_accounting(tmp_path, capsys):
    landing = write_landing(tmp_path / "in", accelerometer=[{"user": "u", "timestamp": 1, "x": 1, "y": 1, "z": 1}, "x"])
    assert main(["run", "--source", str(landing), "--warehouse", str(tmp_path / "wh")]) == 0
    out = capsys.readouterr().out
    assert "ingested 1 new accelerometer file(s)" in out
    assert "machine_learning_curated  curated  0" in out
    assert "accelerometer: 2 landing rows = 0 kept + 1 not a customer with research consent + 1 quarantined" in out


def test_run_twice_commits_nothing_the_second_time(warehouse, capsys):
    assert main(["run", "--warehouse", warehouse]) == 0
    assert "committed 0 table(s), 12 unchanged" in capsys.readouterr().out


def test_run_alone_on_an_empty_warehouse_builds_the_built_in_sample(tmp_path, capsys):
    assert main(["run", "--warehouse", str(tmp_path / "wh")]) == 0
    out = capsys.readouterr().out
    assert "ingested" in out
    counts = {line.split()[0]: int(line.split()[2]) for line in out.splitlines() if line.endswith("+00:00")}
    assert len(counts) == 12 and counts["machine_learning_curated"] > 0


def test_query_table_format(warehouse, capsys):
    assert main(["query", "--warehouse", warehouse, "SELECT email FROM customer_trusted"]) == 0
    assert capsys.readouterr().out.split() == ["email", "-------", "a@x.com"]


def test_query_csv_has_a_header(warehouse, capsys):
    assert main(["query", "--warehouse", warehouse, "--format", "csv",
                 "SELECT source, reason FROM quarantine"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [["source", "reason"],
                                                                     ["customer", "not a JSON object"]]


def test_query_json(warehouse, capsys):
    assert main(["query", "--warehouse", warehouse, "--format", "json",
                 "SELECT serialnumber, owner_email FROM device_ownership"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"serialnumber": "dev-1", "owner_email": "a@x.com"}]


@pytest.mark.parametrize(
    "sql, message",
    [
        ("DELETE FROM customer_trusted", "only read-only statements"),
        ("CREATE TABLE t AS SELECT 1", "only read-only statements"),
        ("COPY customer_trusted TO 'x.csv'", "only read-only statements"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("SELEC 1", "syntax error"),
        ("SELECT 1; SELECT 2", "exactly one SQL statement"),
    ],
)
def test_query_errors_are_one_line_and_exit_non_zero(warehouse, capsys, sql, message):
    assert main(["query", "--warehouse", warehouse, sql]) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('{warehouse}/_stedi/salt')",
    "SELECT * FROM read_text('{warehouse}/customer/landing/customer-0.json')",  # raw landing lines
    "SELECT * FROM glob('/etc/*')",
])
def test_query_reads_the_tables_and_nothing_else(warehouse, capsys, sql):
    assert main(["query", "--warehouse", warehouse, sql.format(warehouse=warehouse)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Permission Error: ") and err.count("\n") == 1


def test_query_answers_names_qualified_by_the_database_as_athena_users_write_them(warehouse, capsys):
    assert main(["query", "--warehouse", warehouse, "--format", "csv",
                 'SELECT COUNT(*) AS n FROM stedi.customer_trusted JOIN "stedi"."customer_curated" USING (email)']) == 0
    assert capsys.readouterr().out == "n\n1\n"


def test_query_on_a_missing_warehouse(tmp_path, capsys):
    assert main(["query", "--warehouse", str(tmp_path / "none"), "SELECT 1"]) == 1
    assert "is not a stedi warehouse yet" in capsys.readouterr().err


def test_run_with_a_missing_source_folder(tmp_path, capsys):
    assert main(["run", "--source", str(tmp_path / "nothing"), "--warehouse", str(tmp_path / "wh")]) == 1
    assert "has no customer/, accelerometer/ or step_trainer/ landing folder" in capsys.readouterr().err


def test_tables_lists_zone_rows_location_and_commit(warehouse, capsys):
    assert main(["tables", "--warehouse", warehouse]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert list(lines) == ["customer_landing", "accelerometer_landing", "step_trainer_landing", "quarantine",
                           "customer_trusted", "accelerometer_trusted", "customer_curated", "device_ownership",
                           "device_owners", "step_trainer_trusted", "machine_learning_curated", "data_quality"]
    name, zone, count, location, committed = lines["machine_learning_curated"]
    assert (zone, count) == ("curated", "1")
    assert location.endswith("/step_trainer/curated") and committed.endswith("+00:00")


def test_generate_writes_the_seed_layout(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "out"), "--customers", "50", "--seed", "3"]) == 0
    assert "landing lines" in capsys.readouterr().out
    for source in ("customer", "accelerometer", "step_trainer"):
        assert list((tmp_path / "out" / source / "landing").glob("*.json"))


def test_progress_is_plain_lines_off_a_terminal_and_nothing_with_quiet(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "a"), "--customers", "5"]) == 0
    assert capsys.readouterr().err.splitlines()[0] == "… planned 5 customers"
    warehouse = ["--warehouse", str(tmp_path / "wh")]
    for command, code in ((["generate", str(tmp_path / "b"), "--customers", "5"], 0),
                          (["run", "--source", str(tmp_path / "b"), *warehouse], 0),
                          (["vacuum", *warehouse], 0), (["forget", "nobody@x.com", *warehouse], 1)):
        assert main([*command, "--quiet"]) == code
        assert "… " not in capsys.readouterr().err


def test_progress_on_a_terminal_shows_each_stage_live_with_its_elapsed_time(tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.delenv("TERM", raising=False)
    assert main(["generate", str(tmp_path / "a"), "--customers", "5"]) == 0
    shown = sys.stderr.getvalue()
    assert "planned 5 customers" in shown and "0:00:00" in shown and "\x1b[" in shown and "… " not in shown


def test_the_spark_engine_without_java_is_one_sentence(tmp_path, capsys, monkeypatch):
    from stedi.engines import spark

    monkeypatch.setattr(spark, "java_available", lambda: False)
    with pytest.raises(spark.EngineUnavailable, match="needs Java"):
        spark.spark_session.__wrapped__("local[1]")
    monkeypatch.setattr(spark, "spark_session", spark.spark_session.__wrapped__)
    landing = write_landing(tmp_path / "in", customer=[{"email": "a@x.com"}])
    assert main(["run", "--engine", "spark", "--source", str(landing), "--warehouse", str(tmp_path / "wh")]) == 1
    assert capsys.readouterr().err.endswith("error: the Spark engine needs Java (17) on PATH or JAVA_HOME; none was found\n")


def stedi_process(*args, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stedi.cli", *args], text=True, **popen)


def test_ctrl_c_that_duckdb_swallows_still_stops_the_run_at_its_next_stage(tmp_path, monkeypatch, capsys):
    from stedi import pipeline

    refresh = pipeline._refresh_landing

    def swallowing_ctrl_c(*args):  # as DuckDB can, when Ctrl-C lands as a query ends
        try:
            signal.raise_signal(signal.SIGINT)  # to this thread: os.kill may reach another, the handler run later
        except KeyboardInterrupt:
            pass
        return refresh(*args)

    monkeypatch.setattr(pipeline, "_refresh_landing", swallowing_ctrl_c)
    landing = write_landing(tmp_path / "in", customer=[{"email": "a@x.com", "shareWithResearchAsOfDate": 1}])
    handler = signal.getsignal(signal.SIGINT)  # Python's, or the one a SparkContext of an earlier test set
    assert main(["run", "--source", str(landing), "--warehouse", str(tmp_path / "wh")]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "interrupted: every table is at its last committed state"
    monkeypatch.undo()
    assert store.open_tables(str(tmp_path / "wh")).load("customer_trusted").current_snapshot() is None
    assert signal.getsignal(signal.SIGINT) is handler


def test_ctrl_c_during_a_run_is_one_line_and_leaves_the_tables_as_they_were(tmp_path):
    generate(str(tmp_path / "in"), customers=1500, seed=1)
    process = stedi_process("run", "--source", str(tmp_path / "in"), "--warehouse", str(tmp_path / "wh"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in process.stderr:
        if "reading 2 new accelerometer landing file(s)" in line:  # DuckDB is parsing them
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()
    assert process.wait() == 130
    assert rest.splitlines()[-1] == "interrupted: every table is at its last committed state"
    assert "Traceback" not in rest
    assert main(["run", "--warehouse", str(tmp_path / "wh")]) == 0  # the next run finishes the work


def test_a_closed_stdout_does_not_stop_a_run_from_committing(tmp_path):
    generate(str(tmp_path / "in"), customers=50, seed=1)
    process = stedi_process("run", "--source", str(tmp_path / "in"), "--warehouse", str(tmp_path / "wh"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # `| head -0`: every line the run prints meets a closed pipe
    assert process.wait() == 0
    assert "Traceback" not in process.stderr.read()
    assert run(str(tmp_path / "wh")).committed == []  # every table was committed


def test_ctrl_c_inside_a_duckdb_query_is_the_same_one_line(tmp_path, monkeypatch, capsys):
    """DuckDB ends a query that Ctrl-C interrupts with RuntimeError("Query interrupted"), not
    KeyboardInterrupt (seen with `kill -INT` while it parsed 400,000 landing lines)."""
    from stedi.engines.duckdb import DuckDBEngine

    def interrupted(*args, **kwargs):
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(DuckDBEngine, "write", interrupted)
    assert main(["run", "--warehouse", str(tmp_path / "wh")]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "interrupted: every table is at its last committed state"


def test_help_describes_every_option_of_every_command():
    import argparse

    from stedi.cli import _parser

    (commands,) = [action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction)]
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"stedi {name}: {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize("command", [["query", "SELECT COUNT(*) FROM customer_trusted"], ["tables"],
                                     ["history", "customer_trusted"], ["run"]])
def test_a_warehouse_whose_catalog_cannot_be_read_is_one_sentence_for_every_command(tmp_path, capsys, command):
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "catalog.db").write_bytes(b"not a database, " * 512)  # e.g. a half-copied warehouse
    assert main([*command, "--warehouse", str(tmp_path / "wh")]) == 1
    err = capsys.readouterr().err
    assert err == f"error: the catalog of {tmp_path / 'wh'} cannot be read: file is not a database\n"


@pytest.fixture(scope="module")
def unprivileged() -> list[str]:
    """The command prefix under which file permissions apply: none for a user; for root, which
    bypasses them, setpriv without the capabilities that do (the same user, so the interpreter
    stays readable wherever it is installed)."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    if shutil.which("setpriv") is None or subprocess.run([*prefix, "true"]).returncode != 0:
        pytest.skip("running as root, and setpriv cannot drop the capabilities that bypass file permissions")
    return prefix


@pytest.fixture
def withheld(warehouse, tmp_path):
    """A copy of the warehouse, and a function that takes permissions away from it (`chmod` modes);
    given back after the test."""
    copy = tmp_path / "wh"
    shutil.copytree(warehouse, copy)
    store.open_tables(str(copy), create=False)  # a copy re-points its tables to itself once, which writes
    yield copy, lambda *modes: subprocess.run(["chmod", *modes, str(copy)], check=True)
    subprocess.run(["chmod", "-R", "u+rwX", str(copy)], check=True)


def stedi_as(prefix: list[str], *args) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "stedi.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command, out", [(["query", "SELECT email FROM customer_trusted"], "a@x.com"),
                                          (["tables"], "customer_trusted"), (["history", "customer_trusted"], "append")])
def test_a_read_only_warehouse_answers_every_read(unprivileged, withheld, command, out):
    copy, withhold = withheld
    withhold("-R", "a-w")
    done = stedi_as(unprivileged, *command, "--warehouse", str(copy))
    assert (done.returncode, done.stderr) == (0, "")
    assert out in done.stdout


@pytest.mark.parametrize("command", [["run"], ["forget", "a@x.com"], ["vacuum"]])
def test_a_read_only_warehouse_refuses_every_write_in_one_sentence(unprivileged, withheld, command):
    copy, withhold = withheld
    withhold("-R", "a-w")
    done = stedi_as(unprivileged, *command, "--quiet", "--warehouse", str(copy))
    assert (done.returncode, done.stderr) == (1, f"error: cannot write to {copy}: permission denied\n")


@pytest.mark.parametrize("command", [["query", "SELECT 1"], ["tables"], ["history", "customer_trusted"],
                                     ["run", "--quiet"], ["forget", "--quiet", "a@x.com"], ["vacuum", "--quiet"]])
def test_an_unreadable_warehouse_is_one_sentence_for_every_command(unprivileged, withheld, command):
    copy, withhold = withheld
    withhold("a-rwx")
    done = stedi_as(unprivileged, *command, "--warehouse", str(copy))
    verb = "write to" if command[0] == "run" else "read"
    assert (done.returncode, done.stderr) == (1, f"error: cannot {verb} {copy}: permission denied\n")


@pytest.mark.parametrize("command", [["query", "SELECT 1"], ["tables"], ["run", "--quiet"]])
def test_a_warehouse_whose_files_cannot_be_read_is_one_sentence(unprivileged, withheld, command):
    copy, withhold = withheld
    withhold("-R", "a-r")
    done = stedi_as(unprivileged, *command, "--warehouse", str(copy))
    assert (done.returncode, done.stderr) == (1, f"error: the catalog of {copy} cannot be read: "
                                                 "unable to open database file\n")


@pytest.mark.parametrize("command", [["query", "SELECT 1"], ["tables"]])
def test_a_table_file_that_cannot_be_read_is_one_sentence(unprivileged, tmp_path, command):
    landing = write_landing(tmp_path / "in", customer=[{"email": "a@x.com", "lastUpdateDate": 1}])
    assert main(["run", "--quiet", "--source", str(landing), "--warehouse", str(tmp_path / "wh")]) == 0
    metadata = embedded.current_metadata(str(tmp_path / "wh"), "stedi")["customer_landing"]
    os.chmod(metadata, 0)
    done = stedi_as(unprivileged, *command, "--warehouse", str(tmp_path / "wh"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and metadata in done.stderr and done.stderr.count("\n") == 1
