"""Two runs against one warehouse never corrupt it: one writes, the other waits its turn or exits
with one sentence (`WarehouseBusy`, exit code 1); a lock dies with its process; readers see
committed tables while a run writes."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXED_SALT, contents, scalar

from stedi import generate, run
from stedi.cli import main
from stedi.query import connect_tables
from stedi.storage.warehouse import Warehouse, WarehouseBusy

SALT = FIXED_SALT
ENV = {**os.environ, "STEDI_SALT": SALT}
BUSY = "error: another stedi run is writing to {root}; try again when it ends"

# Two processes that import everything, then wait at a barrier, then call the CLI's main at once.
AT_THE_BARRIER = """
import os, sys, time
import stedi.cli, stedi.pipeline, stedi.query
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.0002)
sys.exit(stedi.cli.main(sys.argv[3:]))
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory, salted):
    """Landing data (150 customers); its first part (every customer, every other reading) and the
    rest; reference warehouses, each built by uninterrupted runs."""
    root = tmp_path_factory.mktemp("concurrency")
    generate(str(root / "all"), customers=150, seed=1)
    for path in (root / "all").glob("*/landing/*.json"):
        lines = path.read_bytes().splitlines(keepends=True)
        parts = {"first": lines} if "customer" in path.name else {"first": lines[::2], "rest": lines[1::2]}
        for part, chosen in parts.items():
            folder = root / part / path.parent.relative_to(root / "all")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{path.stem}-{part}.json").write_bytes(b"".join(chosen))
    run(str(root / "reference"), str(root / "all"))
    run(str(root / "first-wh"), str(root / "first"))
    shutil.copytree(root / "first-wh", root / "first-then-rest")
    run(str(root / "first-then-rest"), str(root / "rest"))
    return root


def cli(source: Path, warehouse: Path) -> list[str]:
    return ["run", "--source", str(source), "--warehouse", str(warehouse)]


def assert_refused_in_one_sentence(result: subprocess.CompletedProcess | tuple, warehouse: Path) -> None:
    code, out, err = result
    assert code == 1
    assert "Traceback" not in err
    assert err.strip() == BUSY.format(root=warehouse.resolve()), err
    assert out == ""


def race(tmp_path: Path, argv: list[str], barrier: bool) -> list[tuple[int, str, str]]:
    """Start two `stedi run`s at once; return each one's (exit code, stdout, stderr)."""
    go = tmp_path / "go"
    processes = []
    for i in range(2):
        command = [sys.executable, "-c", AT_THE_BARRIER, str(tmp_path / f"ready-{i}"), str(go), *argv] if barrier \
            else [sys.executable, "-m", "stedi.cli", *argv]
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV))
    if barrier:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline, "the processes never reached the barrier"
            time.sleep(0.005)
        go.touch()
    return [(p.wait(timeout=120), *p.communicate()) for p in processes]


@pytest.mark.parametrize("start, barrier", [("empty", True), ("empty", True), ("empty", False), ("built", True)],
                         ids=["empty-barrier-1", "empty-barrier-2", "empty-popen", "built-barrier"])
def test_two_runs_at_once_one_writes_and_the_other_is_refused_or_waits(data, tmp_path, start, barrier):
    warehouse = tmp_path / "wh"
    if start == "built":
        shutil.copytree(data / "first-wh", warehouse)
    results = race(tmp_path, cli(data / ("all" if start == "empty" else "rest"), warehouse), barrier)
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 1]), "\n".join(err[-3000:] for _, _, err in results)
    for result in results:
        if result[0] == 1:
            assert_refused_in_one_sentence(result, warehouse)
        else:
            assert "Traceback" not in result[2]
    assert contents(warehouse) == contents(data / ("reference" if start == "empty" else "first-then-rest"))
    print(f"\n{start}, {'barrier' if barrier else 'Popen twice'}: exit codes {codes}")


def test_a_run_while_another_holds_the_warehouse_exits_1_with_one_sentence(data, tmp_path):
    warehouse = tmp_path / "wh"
    with Warehouse.at(warehouse).lock():
        refused = subprocess.run([sys.executable, "-m", "stedi.cli", *cli(data / "all", warehouse)],
                                 capture_output=True, text=True, env=ENV, timeout=120)
    assert_refused_in_one_sentence((refused.returncode, refused.stdout, refused.stderr), warehouse)
    assert not any(warehouse.glob("*/landing/*")), "the refused run touched the landing zone"


def test_the_lock_of_a_killed_run_blocks_nobody(data, tmp_path):
    warehouse = tmp_path / "wh"
    process = subprocess.Popen([sys.executable, "-m", "stedi.cli", *cli(data / "all", warehouse)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    line = process.stderr.readline()  # progress lines come from inside the lock
    assert line.startswith("…"), line
    with pytest.raises(WarehouseBusy, match="another stedi run is writing to"):
        run(str(warehouse), str(data / "all"))
    assert process.poll() is None, "the run ended before it could be killed holding the lock"
    process.send_signal(signal.SIGKILL)
    process.wait()

    after = subprocess.run([sys.executable, "-m", "stedi.cli", *cli(data / "all", warehouse)],
                           capture_output=True, text=True, env=ENV, timeout=120)
    assert after.returncode == 0, after.stderr
    assert contents(warehouse) == contents(data / "reference")


def test_the_lock_of_a_killed_process_that_only_held_it_blocks_nobody(data, tmp_path):
    warehouse = tmp_path / "wh"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom stedi.storage.warehouse import Warehouse\n"
         "with Warehouse.at(sys.argv[1]).lock():\n    print('held', flush=True)\n    time.sleep(600)", str(warehouse)],
        stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(WarehouseBusy):
        run(str(warehouse), str(data / "all"))
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    run(str(warehouse), str(data / "all"))
    assert contents(warehouse) == contents(data / "reference")


def test_a_reader_sees_only_committed_tables_while_a_run_writes(data, tmp_path):
    warehouse = tmp_path / "wh"
    shutil.copytree(data / "first-wh", warehouse)  # a new warehouse has a race of its own: see below
    before, after = contents(warehouse), contents(data / "first-then-rest")
    allowed = {name: {len(before[name]), len(after[name])} for name in before}
    sources = ["customer", "accelerometer", "step_trainer"]  # the quarantine commits once per source, in order
    per_source = [(sum(r[0] == s for r in before["quarantine"]), sum(r[0] == s for r in after["quarantine"]))
                  for s in sources]
    allowed["quarantine"] = {sum(new if i < k else old for i, (old, new) in enumerate(per_source))
                             for k in range(len(sources) + 1)}
    process = subprocess.Popen([sys.executable, "-m", "stedi.cli", *cli(data / "rest", warehouse)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    reads, seen = 0, set()
    while process.poll() is None:
        con = connect_tables(str(warehouse))
        for name in allowed:
            count = con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
            assert count in allowed[name], f"a reader saw {count} rows in {name} (committed: {sorted(allowed[name])})"
            seen.add((name, count))
        reads += 1
    assert process.wait() == 0, process.stderr.read()
    assert contents(warehouse) == after
    changed = sorted(name for name, count in seen if count != len(before[name]))
    print(f"\n{reads} consistent reads while the run wrote; saw new rows in {', '.join(sorted(set(changed)))}")


# Each process opens the catalog of a warehouse whose catalog.db was just created (empty), as a
# reader does when it comes right after the first run of a new warehouse created the file.
OPEN_AT_THE_BARRIER = """
import os, sys, time
from stedi.query import connect_tables
from stedi.storage import catalog as ice
role, base, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
errors = []
for i in range(rounds):
    root = os.path.join(base, str(i))
    open(os.path.join(root, f"ready-{role}"), "w").close()
    while not os.path.exists(os.path.join(root, "go")):
        time.sleep(0.0001)
    try:
        ice.open_tables(root) if role == "writer" else connect_tables(root)
    except Exception as error:
        errors.append(f"{role}: {type(error).__name__}: {str(error).splitlines()[0]}")
print("\\n".join(errors))
"""


def test_a_reader_racing_the_first_run_of_a_new_warehouse_breaks_neither(tmp_path):
    rounds = 40
    for i in range(rounds):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "catalog.db").touch()  # what the first run's open_catalog has just created
    processes = [subprocess.Popen([sys.executable, "-c", OPEN_AT_THE_BARRIER, role, str(tmp_path), str(rounds)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
                 for role in ("writer", "reader")]
    for i in range(rounds):
        deadline = time.monotonic() + 60
        while not all((tmp_path / str(i) / f"ready-{role}").exists() for role in ("writer", "reader")):
            assert time.monotonic() < deadline and all(p.poll() is None for p in processes), \
                [p.stderr.read() for p in processes if p.poll() is not None]
            time.sleep(0.001)
        (tmp_path / str(i) / "go").touch()
    errors = [line for p in processes for line in p.communicate(timeout=120)[0].splitlines() if line]
    assert all(p.returncode == 0 for p in processes)
    assert errors == []


def test_a_commit_iceberg_refuses_stops_the_run_in_one_sentence(tmp_path, monkeypatch, capsys):
    """The last line of defence behind the lock or lease: Iceberg's optimistic commit check. (PyIceberg
    retries a commit that conflicts; here another writer wins every time.)"""
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.exceptions import CommitFailedException

    generate(str(tmp_path / "in"), customers=20, seed=4)
    commit = SqlCatalog.commit_table

    def another_writer_always_first(catalog, table, requirements, updates):
        if table.name()[-1] == "customer_trusted":
            raise CommitFailedException("Table has been updated by another process: stedi.customer_trusted")
        return commit(catalog, table, requirements, updates)

    monkeypatch.setattr(SqlCatalog, "commit_table", another_writer_always_first)
    assert main(["run", "--source", str(tmp_path / "in"), "--warehouse", str(tmp_path / "wh")]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == ("error: a table changed while this command wrote it, so its commit was refused (Table has been "
                   "updated by another process: stedi.customer_trusted); every table is at its last committed state: "
                   "run the command again")
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM customer_trusted") == 0
    monkeypatch.undo()
    assert main(["run", "--warehouse", str(tmp_path / "wh")]) == 0
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM customer_trusted") > 0
