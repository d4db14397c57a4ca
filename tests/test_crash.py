"""Crash safety: a `stedi run` killed at any moment leaves every table at a committed state, and
the next run ends exactly where an uninterrupted run ends.

The harness times an uninterrupted `stedi run` (a subprocess, like a user's), then starts it again
and again from the same starting state and SIGKILLs it after delays spread over that duration
(stratified over the whole run from its start, and again over the part after its first progress
line, where the run writes: those delays count from that run's own first line, so a slow import on
a busy machine does not push them past the end).
After each kill:

(a) every Iceberg table is absent or at a committed snapshot: its data files all exist and read
    back whole, their rows add up to the snapshot's total-records, a reader counts the same, and
    each table holds either its rows from before the run or its rows after an uninterrupted run
    (the quarantine: per source; data_quality is not compared, it records when checks ran);
(b) a run without a kill brings every table to the contents of an uninterrupted run, and one more
    run commits nothing.

Two starting states: an empty warehouse, and a warehouse built from part of the data, the run
bringing new phone and device files. Run with -s to see where the kills landed.
"""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import FIXED_SALT, TABLE_NAMES, contents

from stedi import generate, run
from stedi.query import connect_tables
from stedi.schema import TABLES
from stedi.storage import catalog as ice

SALT = FIXED_SALT
SEED = 20240601
KILLS = {"empty": (18, 12), "partial": (10, 10)}  # (over the whole run, over the part after the imports)
PROGRESS = re.compile(r"^… (?:reading \d+ new (\w+) landing|building (\w+)|appending to (\w+) what)")


@pytest.fixture(scope="module")
def data(tmp_path_factory, salted):
    """Landing folders: everything; a first part (all customers, every other reading); the rest."""
    root = tmp_path_factory.mktemp("crash")
    generate(str(root / "all"), customers=150, seed=1)
    for path in (root / "all").glob("*/landing/*.json"):
        lines = path.read_bytes().splitlines(keepends=True)
        relative = path.parent.relative_to(root / "all")
        parts = {"first": lines} if "customer" in path.name else {"first": lines[::2], "later": lines[1::2]}
        for part, chosen in parts.items():
            for folder in ([root / "first"] if part == "first" else []) + [root / "first+later"]:
                (folder / relative).mkdir(parents=True, exist_ok=True)
                (folder / relative / f"{path.stem}-{part}.json").write_bytes(b"".join(chosen))
    return root


def cli_run(source: Path, warehouse: Path, stdout, stderr) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stedi.cli", "run", "--source", str(source), "--warehouse", str(warehouse)],
        stdout=stdout, stderr=stderr, env={**os.environ, "STEDI_SALT": SALT},
    )


def read_contents(warehouse: Path, con=None) -> dict[str, list[tuple]]:
    """`conftest.contents`, through one reader (and empty tables for a warehouse not begun)."""
    if not (warehouse / "catalog.db").exists():
        return {name: [] for name in TABLE_NAMES}
    con = con or connect_tables(str(warehouse))
    return {name: sorted(con.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for name in TABLE_NAMES}


def by_table(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """Contents with the quarantine split per source (it commits once per source)."""
    split = {name: rows for name, rows in tables.items() if name != "quarantine"}
    for source in ("customer", "accelerometer", "step_trainer"):
        split[f"quarantine/{source}"] = [row for row in tables["quarantine"] if row[0] == source]
    return split


def assert_committed(warehouse: Path, before: dict, after: dict) -> None:
    """(a): each table absent or at a committed snapshot, whole and readable, before or after the run."""
    if not (warehouse / "catalog.db").exists():
        return  # killed before the catalog existed: no table exists
    catalog = ice.open_tables(str(warehouse))
    con = connect_tables(str(warehouse))
    for name in TABLES:
        table = catalog.load(name, create=False)
        if table is None:
            continue
        snapshot = table.current_snapshot()
        files = ice.data_files(table)
        rows = 0
        for path in files:
            assert Path(path).is_file(), f"{name}: its snapshot names {path}, which does not exist"
            rows += pq.read_table(path).num_rows  # reads every page: no partial file
        expected = int(snapshot.summary["total-records"]) if snapshot is not None else 0
        assert rows == expected, f"{name}: {rows} rows in its files, {expected} in its snapshot"
        assert con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0] == expected
    now = by_table(read_contents(warehouse, con))
    for name, rows in now.items():
        assert rows in (before[name], after[name]), f"{name} is neither as it was nor as a whole run leaves it"


def stage_of(stderr: str, stdout: str, warehouse: Path, pristine_landing: set[str]) -> str:
    """Where the run was when it was killed, from its progress lines and what it left on disk."""
    if "committed" in stdout:
        return "after run(): printing the summary"
    last = None
    for line in stderr.splitlines():
        match = PROGRESS.match(line)
        if match:
            last = match
    if last is not None:
        source, built, appended = last.groups()
        if source:
            return f"reading {source} landing files"
        return f"building {built or appended}"
    landing = {str(p.relative_to(warehouse)) for p in warehouse.glob("*/landing/*")} if warehouse.exists() else set()
    if landing - pristine_landing:
        return "ingesting landing files"
    if (warehouse / "_stedi" / "scratch").is_dir() and any((warehouse / "_stedi" / "scratch").iterdir()):
        return "ingesting landing files"
    return "starting (imports)"


STAGE_ORDER = ["starting (imports)", "ingesting landing files", "reading customer landing files",
               "reading accelerometer landing files", "reading step_trainer landing files",
               *(f"building {name}" for name in TABLES), "after run(): printing the summary",
               "finished before the kill"]


@pytest.mark.parametrize("start", ["empty", "partial"])
def test_a_killed_run_leaves_committed_tables_and_the_next_run_finishes_the_job(data, tmp_path, start):
    source = data / ("all" if start == "empty" else "first+later")
    pristine = tmp_path / "pristine"
    if start == "partial":
        run(str(pristine), str(data / "first"))
    pristine_landing = {str(p.relative_to(pristine)) for p in pristine.glob("*/landing/*")}

    # The reference: an uninterrupted run from the starting state, timed, with when its first progress
    # line came; the faster of two, as the first pays for cold caches the runs killed later do not.
    reference = tmp_path / "reference"
    duration, first_progress = min(timed_run(source, pristine, reference) for _ in range(2))
    expected = contents(reference)
    assert read_contents(reference) == expected
    before, after = by_table(read_contents(pristine)), by_table(expected)

    rng = random.Random(SEED)
    spread, focused = KILLS[start]
    writing_time = duration - first_progress
    delays = [(False, duration * 1.1 * (i + rng.random()) / spread) for i in range(spread)]
    delays += [(True, writing_time * (i + rng.random()) / focused) for i in range(focused)]

    warehouse = tmp_path / "wh"
    stages, second_stages = Counter(), Counter()
    for i, (after_first_line, delay) in enumerate(delays):
        restore(pristine, warehouse)
        stage = kill(source, warehouse, delay, tmp_path, pristine_landing, after_first_line)
        stages[stage] += 1
        try:
            assert_committed(warehouse, before, after)  # (a)
            if i >= spread and (i - spread) % 4 == 3:  # kill the next run too, somewhere else
                second = kill(source, warehouse, writing_time * rng.random(), tmp_path, pristine_landing, True)
                second_stages[second] += 1
                stage = f"{stage}, then {second}"
                assert_committed(warehouse, before, after)
            run(str(warehouse), str(source))  # (b)
            assert read_contents(warehouse) == expected
            assert run(str(warehouse), str(source)).committed == []
        except AssertionError as error:
            raise AssertionError(f"killed after {delay:.2f} s{' past its first line' if after_first_line else ''}, while {stage}: {error}") from None

    print(f"\n{start} warehouse: uninterrupted run {duration:.2f} s (first progress line at {first_progress:.2f} s); "
          f"{len(delays)} runs killed from the starting state, {sum(second_stages.values())} of them killed again "
          f"on their next run")
    for stage in sorted(stages, key=STAGE_ORDER.index):
        print(f"  {stages[stage]:3d}  {stage}")
    print("  killed again on the next run:")
    for stage in sorted(second_stages, key=STAGE_ORDER.index):
        print(f"  {second_stages[stage]:3d}  {stage}")
    writing = sum(n for stage, n in stages.items() if stage not in ("starting (imports)", "finished before the kill"))
    assert writing >= focused // 2, "too few kills landed while the run was writing: is the machine much slower?"


def timed_run(source: Path, pristine: Path, warehouse: Path) -> tuple[float, float]:
    """Run `stedi run` from the starting state to the end; its duration and when its first progress line came."""
    restore(pristine, warehouse)
    started = time.monotonic()
    process = cli_run(source, warehouse, subprocess.DEVNULL, subprocess.PIPE)
    first_progress = None
    for _ in process.stderr:
        first_progress = first_progress or time.monotonic() - started
    assert process.wait() == 0
    return time.monotonic() - started, first_progress


def kill(source: Path, warehouse: Path, delay: float, tmp_path: Path, pristine_landing: set[str],
         after_first_line: bool = False) -> str:
    """Start `stedi run`, SIGKILL it `delay` seconds after its start (or after its first progress
    line); return where it was."""
    with open(tmp_path / "stdout", "w+") as out:
        process = cli_run(source, warehouse, out, subprocess.PIPE)
        first = process.stderr.readline() if after_first_line else b""
        try:
            _, rest = process.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            _, rest = process.communicate()
            out.seek(0)
            return stage_of((first + rest).decode(), out.read(), warehouse, pristine_landing)
        assert process.returncode == 0, (first + rest).decode()
        return "finished before the kill"


def restore(pristine: Path, warehouse: Path) -> None:
    shutil.rmtree(warehouse, ignore_errors=True)
    if pristine.exists():
        shutil.copytree(pristine, warehouse)
