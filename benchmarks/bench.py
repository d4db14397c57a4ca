"""Speed and memory figures for `stedi run`, per scale and engine. Prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench.py [--scales 1200,12000,120000] [--engines duckdb,spark]
                                         [--repeat 1] [--out DIR]

For each scale (a customer count) it generates landing data once, then measures in fresh
subprocesses: a bare DuckDB read of the accelerometer landing JSON (what any pipeline pays to read
its input), the floor (`floor.py`: the table rules alone on the DuckDB engine), and for each engine
a full `stedi run` into a fresh warehouse, a no-op rerun on the unchanged warehouse, and a rerun
after ~1% more accelerometer data lands in the source folder as a new file.
Wall seconds, and peak RSS and CPU seconds of the whole process tree (the Spark JVM and its Python
workers are children of `stedi`), sampled every 50 ms from /proc. Each measurement waits (up to 2
minutes) for other processes to leave the CPUs idle, and reports how busy they kept them anyway.
With --repeat N every figure is the median.

Progress goes to stderr, figures to stdout. Data and warehouses go under --out (kept, and the
generated data reused by a later run with the same --out) or a temporary folder (removed).
"""

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from statistics import median

import stedi
from stedi.generate import generate

EXTRA_FRACTION = 0.01  # the incremental batch: 1% of the accelerometer lines
PLUS_FILE = "accelerometer-plus.json"  # the name it lands by in the source folder
SAMPLE_SECONDS = 0.05  # RSS sampling interval
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count()  # all CPUs, as /proc/stat counts them
QUIET_LOAD = 0.1  # measure once other processes use less than this share of the CPUs...
QUIET_WAIT = 120  # ...or after this many seconds of waiting

BARE_READ = """
import sys, duckdb
files = sys.argv[1:]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")  # it would print to stdout
counts = con.sql(
    "SELECT COUNT(*), COUNT(\\"user\\"), COUNT(\\"timestamp\\"), SUM(x), SUM(y), SUM(z) FROM read_json($files, "
    "format='newline_delimited', "
    "columns={'user': 'VARCHAR', 'timestamp': 'BIGINT', 'x': 'DOUBLE', 'y': 'DOUBLE', 'z': 'DOUBLE'})",
    params={"files": files},
).fetchone()
print(*counts)
"""


@dataclass
class Measurement:
    """One subprocess: wall seconds, peak RSS and CPU of its tree, exit code, its output lines with their times."""

    wall: float
    peak_rss: int  # bytes
    cpu: float  # CPU seconds of the process tree
    others: float  # share of all CPUs other processes kept busy meanwhile
    returncode: int
    stdout: list[tuple[float, str]]  # (seconds since start, line)
    stderr: list[tuple[float, str]]


@dataclass
class Scale:
    """One scale's generated data: the landing folder of the full run and of the +1% run."""

    customers: int
    landing: Path  # 99% of the accelerometer lines, everything else whole
    extra: Path  # the held-back 1%, landed as one new file for the +1% run (see `landed`)
    extra_rows: int


@dataclass
class EngineFigures:
    """Every repetition's measurements of one engine at one scale."""

    full: list[Measurement] = field(default_factory=list)
    noop: list[Measurement] = field(default_factory=list)
    plus: list[Measurement] = field(default_factory=list)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    args = parse_args()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="stedi-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(machine())
    print(versions())
    print(code_version())
    print(f"repeat {args.repeat} (figures are medians); data and warehouses in {root}")
    totals = {}
    try:
        for customers in args.scales:
            scale = prepare(root / f"customers-{customers}", customers)
            bare = [bare_read(scale.landing) for _ in range(args.repeat)]
            floor = [floor_run(scale.landing, root) for _ in range(args.repeat)]
            figures = {engine: bench_engine(engine, scale, root, args.repeat) for engine in args.engines}
            rows = bare_rows(bare[0])
            print_scale(scale, rows, bare, floor, figures)
            sys.stdout.flush()
            totals[customers] = figures
        print_engine_ratios(totals)
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1200,12000,120000", type=_ints,
                        help="customer counts, comma-separated (~84 accelerometer rows per customer)")
    parser.add_argument("--engines", default="duckdb,spark", type=lambda s: s.split(","))
    parser.add_argument("--repeat", default=1, type=int, help="runs per measurement; the median is reported")
    parser.add_argument("--out", metavar="DIR", help="keep data and warehouses here (default: a temporary folder)")
    return parser.parse_args()


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def machine() -> str:
    """One line: cores, memory, CPU, OS, Python."""
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    return (f"machine: nproc {len(os.sched_getaffinity(0))}, memory {mem_kb / 2**20:.1f} GiB, "
            f"cpu {cpu[1] if cpu else platform.machine()}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def versions() -> str:
    """One line: the versions of the libraries and the Java that do the work."""
    found = []
    for package in ("duckdb", "pyspark", "pyiceberg", "pyarrow"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} not installed")
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    except (OSError, IndexError):
        java = "none"
    return "versions: " + ", ".join(found) + f", java: {java}"


def code_version() -> str:
    """One line: where the `stedi` measured lives, its commit and whether it has uncommitted changes."""
    package = Path(stedi.__file__).resolve().parent
    described = subprocess.run(["git", "-C", str(package), "describe", "--always", "--dirty"],
                               capture_output=True, text=True).stdout.strip()
    return f"stedi: {package}, git {described or 'unknown'}"


def prepare(folder: Path, customers: int) -> Scale:
    """Generate the scale's landing data once (reused when `folder` already holds it) and hold back 1%.

    The +1% batch is the last 1% of the generated accelerometer lines, split off into a file of its
    own before any run. These are real readings of customers whose records and devices are already
    landed (generate() writes each customer's readings together, customers in order), so the batch
    flows through every join and filter like fresh data would, and the +1% run ends on exactly the
    generated data set. A batch from another seed would name unknown customers and mostly be dropped
    at the first join, flattering the incremental figure.
    """
    landing, extra = folder / "landing", folder / "extra.json"
    (landing / "accelerometer" / "landing" / PLUS_FILE).unlink(missing_ok=True)  # left by an interrupted bench
    done = folder / "ready"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        say(f"generating {customers} customers into {landing}")
        started = time.monotonic()
        generate(landing, customers=customers, seed=0)
        say(f"generated in {time.monotonic() - started:.1f} s; holding back {EXTRA_FRACTION:.0%} of accelerometer")
        hold_back(accelerometer_files(landing), extra)
        done.touch()
    with open(extra, "rb") as handle:
        extra_rows = sum(1 for _ in handle)
    return Scale(customers, landing, extra, extra_rows)


def accelerometer_files(landing: Path) -> list[Path]:
    """The generated accelerometer data files in generation order (the malformed-lines file left out)."""
    files = (landing / "accelerometer" / "landing").glob("accelerometer-*.json")
    numbered = [f for f in files if re.fullmatch(r"accelerometer-\d+\.json", f.name)]
    return sorted(numbered, key=lambda f: int(re.search(r"\d+", f.name)[0]))


def hold_back(files: list[Path], extra: Path) -> None:
    """Move the last EXTRA_FRACTION of the lines of `files` (taken as one stream) into `extra`."""
    counts = []
    for path in files:
        with open(path, "rb") as handle:
            counts.append(sum(1 for _ in handle))
    wanted = round(sum(counts) * EXTRA_FRACTION)
    tails = []
    for path, count in reversed(list(zip(files, counts))):
        if wanted == 0:
            break
        take = min(wanted, count)
        lines = path.read_bytes().splitlines(keepends=True)
        tails.insert(0, b"".join(lines[count - take:]))
        if take == count:
            path.unlink()
        else:
            path.write_bytes(b"".join(lines[: count - take]))
        wanted -= take
    extra.write_bytes(b"".join(tails))


@contextmanager
def landed(extra: Path, landing: Path):
    """`extra` as a new accelerometer file of the `landing` folder (a hard link), for one run."""
    target = landing / "accelerometer" / "landing" / PLUS_FILE
    os.link(extra, target)
    try:
        yield
    finally:
        target.unlink()


def measure_script(what: str, *arguments: str) -> Measurement:
    """`measure` a Python process run with `arguments`; raise with its last error lines if it fails."""
    result = measure([sys.executable, *arguments])
    if result.returncode:
        raise RuntimeError(f"{what} failed:\n" + "\n".join(line for _, line in result.stderr[-20:]))
    return result


def bare_read(landing: Path) -> Measurement:
    """A bare DuckDB read of every accelerometer landing data file, all columns, in a fresh process."""
    files = [str(f) for f in accelerometer_files(landing)]
    result = measure_script("bare read", "-c", BARE_READ, *files)
    say(f"bare read: {result.wall:.2f} s; rows, users, timestamps, sums of x, y, z: {result.stdout[-1][1]}")
    return result


def floor_run(landing: Path, root: Path) -> Measurement:
    """The table rules alone on the DuckDB engine (`floor.py`), in a fresh process."""
    out = root / "floor"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    try:
        result = measure_script("floor", str(Path(__file__).with_name("floor.py")), str(landing), str(out))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    say(f"floor: {result.wall:.2f} s; " + "; ".join(line for _, line in result.stdout))
    return result


def bare_rows(result: Measurement) -> int:
    """The accelerometer row count a bare read printed."""
    return int(result.stdout[-1][1].split()[0])


def bench_engine(engine: str, scale: Scale, root: Path, repeat: int) -> EngineFigures:
    """Full run into a fresh warehouse, no-op rerun, +1% rerun; `repeat` times, each in a fresh warehouse."""
    figures = EngineFigures()
    for n in range(repeat):
        warehouse = root / f"warehouse-{engine}"
        shutil.rmtree(warehouse, ignore_errors=True)
        for kind in ("full", "noop", "plus"):
            say(f"{scale.customers} customers, {engine}, {kind} run {n + 1}/{repeat}")
            with landed(scale.extra, scale.landing) if kind == "plus" else nullcontext():
                result = measure(stedi_run(engine, scale.landing, warehouse))
            report_run(result)
            getattr(figures, kind).append(result)
        shutil.rmtree(warehouse, ignore_errors=True)  # a warehouse holds a copy of the landing data
    return figures


def stedi_run(engine: str, source: Path, warehouse: Path) -> list[str]:
    return [sys.executable, "-m", "stedi.cli", "run", "--engine", engine, "--source", str(source),
            "--warehouse", str(warehouse)]


def report_run(result: Measurement) -> None:
    """Progress: the run's figures, its stage timings, and its output if it failed."""
    say(f"  {result.wall:.2f} s, peak {result.peak_rss / 2**20:.0f} MB, CPU {result.cpu:.1f} s, "
        f"others kept {result.others:.0%} of the CPUs busy, exit {result.returncode}, "
        f"{committed(result)} table(s) committed, accelerometer_landing {landing_rows(result)} rows")
    for stage, seconds in stages(result):
        say(f"    {seconds:8.2f} s  {stage}")
    if result.returncode:
        for _, line in result.stdout[-15:] + result.stderr[-30:]:
            say(f"  | {line}")


def measure(command: list[str]) -> Measurement:
    """Run `command` on a quiet machine, timing it and sampling its process tree; stamp each output line."""
    os.sync()  # the last run's files go to disk now, not while this one runs
    wait_for_quiet()
    env = os.environ | {"PYTHONUNBUFFERED": "1"}  # so stdout lines are stamped when printed
    busy_before, own_before = machine_busy(), sum(os.times()[:2])
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err, peak, cpu, done = [], [], [0], {}, threading.Event()

    def collect(stream, lines):
        for line in stream:
            lines.append((time.monotonic() - started, line.rstrip("\n")))

    def sample():
        while not done.is_set():
            processes = process_tree(proc.pid)
            peak[0] = max(peak[0], sum(rss for rss, _ in processes.values()))
            cpu.update((pid, ticks) for pid, (_, ticks) in processes.items())
            done.wait(SAMPLE_SECONDS)

    threads = [threading.Thread(target=collect, args=(proc.stdout, out)),
               threading.Thread(target=collect, args=(proc.stderr, err)),
               threading.Thread(target=sample)]
    for thread in threads:
        thread.start()
    returncode = proc.wait()
    wall = time.monotonic() - started
    done.set()
    for thread in threads:
        thread.join()
    tree_cpu = sum(cpu.values()) / CLOCK_TICKS
    others = machine_busy() - busy_before - tree_cpu - (sum(os.times()[:2]) - own_before)
    return Measurement(wall, peak[0], tree_cpu, max(0.0, others) / (wall * CPUS), returncode, out, err)


def process_tree(pid: int) -> dict[int, tuple[int, int]]:
    """`pid` and all its descendants: pid -> (RSS bytes, CPU clock ticks used so far), from /proc/*/stat.

    This kernel has no /proc/<pid>/task/*/children, so the tree is rebuilt from every process's
    parent id. Pages shared between processes (e.g. forked Python workers) count once per process.
    """
    children, stats = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields 3 and on of proc_pid_stat(5)
        child = int(entry.name)
        children.setdefault(int(fields[1]), []).append(child)  # field 4: ppid
        stats[child] = (int(fields[21]) * PAGE_SIZE, int(fields[11]) + int(fields[12]))  # rss; utime + stime
    tree, todo = {}, [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            tree[current] = stats[current]
        todo += children.get(current, [])
    return tree


def machine_busy() -> float:
    """CPU seconds all processors have spent busy since boot, from /proc/stat."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS  # all but idle and iowait


def wait_for_quiet() -> None:
    """Wait (up to QUIET_WAIT seconds) until other processes leave the CPUs mostly idle."""
    deadline = time.monotonic() + QUIET_WAIT
    while True:
        before = machine_busy()
        time.sleep(1)
        load = (machine_busy() - before) / CPUS
        if load < QUIET_LOAD:
            return
        if time.monotonic() > deadline:
            say(f"  the machine is still {load:.0%} busy with other work; measuring anyway")
            return
        say(f"  the machine is {load:.0%} busy with other work; waiting")


def committed(result: Measurement) -> str:
    """How many tables the run committed, from its `committed N table(s)` line ('?' if absent)."""
    found = [m[1] for _, line in result.stdout if (m := re.search(r"committed (\d+) table", line))]
    return found[0] if found else "?"


def landing_rows(result: Measurement) -> str:
    """The accelerometer_landing row count in the run's table listing ('?' if absent)."""
    found = [m[1] for _, line in result.stdout if (m := re.search(r"accelerometer_landing\s+\S+\s+(\d+)", line))]
    return found[0] if found else "?"


def stages(result: Measurement) -> list[tuple[str, float]]:
    """Seconds between the run's progress lines: start-up and ingest, each table step, the CLI report.

    A stage lasts from its `… <message>` line on stderr to the next one; the last table step ends at
    the CLI's first line of results on stdout (pipeline.run returned; DuckDB progress bars can come
    before it), and the CLI report (tables, accounting) ends at exit.
    """
    marks = [(0.0, "start-up, ingest, engine start")]
    marks += [(t, line[2:]) for t, line in result.stderr if line.startswith("… ")]
    returned = [t for t, line in result.stdout if re.search(r"(ingested|committed) \d+ ", line)]
    marks.append((returned[0] if returned else result.wall, "CLI report: tables, accounting"))
    marks.append((result.wall, "exit"))
    return [(name, end - start) for (start, name), (end, _) in zip(marks, marks[1:])]


def print_scale(scale: Scale, rows: int, bare: list[Measurement], floor: list[Measurement],
                figures: dict[str, EngineFigures]) -> None:
    """The table of one scale, and the stage timings of each engine's full, no-op and +1% runs."""
    bare_wall, floor_wall = median(m.wall for m in bare), median(m.wall for m in floor)
    print()
    print(f"== {scale.customers} customers: {rows:,} accelerometer rows in the full run, "
          f"+{scale.extra_rows:,} in the +1% run ==")
    print(f"bare DuckDB read of the accelerometer JSON: {bare_wall:.2f} s ({rows / bare_wall:,.0f} rows/s, "
          f"peak RSS {median(m.peak_rss for m in bare) / 2**20:.0f} MB, CPU {median(m.cpu for m in bare):.1f} s, "
          f"others {max(m.others for m in bare):.0%})")
    print(f"floor, the table rules alone (floor.py): {floor_wall:.2f} s = {floor_wall / bare_wall:.1f}x the bare read "
          f"(peak RSS {median(m.peak_rss for m in floor) / 2**20:.0f} MB, others {max(m.others for m in floor):.0%})")
    header = ["engine", "acc rows", "wall s", "rows/s", "peak RSS MB", "CPU s", "x bare read", "x floor",
              "no-op s", "no-op commits", "+1% s", "+1%/full", "+1% commits", "others %"]
    table = []
    for engine, f in figures.items():
        wall = median(m.wall for m in f.full)
        plus = median(m.wall for m in f.plus)
        failed = any(m.returncode for m in f.full + f.noop + f.plus)
        table.append([
            engine + (" (FAILED)" if failed else ""), f"{rows:,}", f"{wall:.2f}", f"{rows / wall:,.0f}",
            f"{median(m.peak_rss for m in f.full) / 2**20:.0f}", f"{median(m.cpu for m in f.full):.1f}",
            f"{wall / bare_wall:.1f}", f"{wall / floor_wall:.1f}", f"{median(m.wall for m in f.noop):.2f}", committed(f.noop[-1]),
            f"{plus:.2f}", f"{plus / wall:.2f}", committed(f.plus[-1]),
            f"{max(m.others for m in f.full + f.noop + f.plus):.0%}",
        ])
    print_rows(header, table)
    print("(CPU s: the full run's process tree; others %: the most of the CPUs other processes used during "
          "any run of the row)")
    print()
    print("stages (s) of the median run of each kind:")
    columns = {f"{engine} {kind}": stages(median_run(getattr(f, kind)))
               for engine, f in figures.items() for kind in ("full", "noop", "plus")}
    names = []  # every column's stages, each column's in the order they ran
    for timings in columns.values():
        at = 0
        for name, _ in timings:
            if name not in names:
                names.insert(at, name)
            at = names.index(name) + 1
    table = [[name] + [_stage_seconds(timings, name) for timings in columns.values()] for name in names]
    print_rows(["stage"] + list(columns), table)


def _stage_seconds(timings: list[tuple[str, float]], name: str) -> str:
    return next((f"{seconds:.2f}" for stage, seconds in timings if stage == name), "-")


def median_run(runs: list[Measurement]) -> Measurement:
    """The run of median wall time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda m: m.wall)[(len(runs) - 1) // 2]


def print_engine_ratios(totals: dict[int, dict[str, EngineFigures]]) -> None:
    """Per scale, DuckDB time over Spark time for the full, no-op and +1% runs."""
    if not all({"duckdb", "spark"} <= figures.keys() for figures in totals.values()):
        return
    print()
    print("DuckDB / Spark wall time (below 1: DuckDB faster)")
    table = []
    for customers, figures in totals.items():
        duck, spark = figures["duckdb"], figures["spark"]
        table.append([f"{customers}"] + [
            f"{median(m.wall for m in getattr(duck, kind)) / median(m.wall for m in getattr(spark, kind)):.2f}"
            for kind in ("full", "noop", "plus")
        ])
    print_rows(["customers", "full", "no-op", "+1%"], table)


def print_rows(header: list[str], rows: list[list[str]]) -> None:
    """A plain text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


if __name__ == "__main__":
    main()
