"""Speed and memory figures for `stedi run`, per scale and engine. Prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench.py [--duckdb 60000,360000] [--spark 12000,120000]
                                         [--repeat 1] [--out DIR] [--json FILE [--readme FILE]]
    .venv/bin/python benchmarks/bench.py --render FILE --readme README.md

For each scale (a customer count) it generates landing data once, then measures in fresh
subprocesses: a bare DuckDB read of the accelerometer landing JSON (what any pipeline pays to read
its input), and for each engine given that scale the floor (`floor.py --engine E`: the table rules
as a plain script on that engine), a full `stedi run` into a fresh warehouse, a no-op rerun on the
unchanged warehouse, and a rerun after ~1% more accelerometer data lands in the source folder as a
new file. At the scales given to --ENGINE-changes it also measures small changes: a rerun after
one customer's record is sent again, changed (a new phone and update date), a rerun after it is
sent once more withdrawing research consent, and `stedi forget` of another customer. The floor must build as many machine_learning_curated rows as the full run (the
same rules): a MISMATCH line says when it does not.
Wall seconds, and peak RSS and CPU seconds of the whole process tree (the Spark JVM and its Python
workers are children of `stedi`), sampled every 50 ms from /proc. Each measurement waits (up to 2
minutes) for other processes to leave the CPUs idle, and reports how busy they kept them anyway.
With --repeat N every figure is the median.

Progress goes to stderr, figures to stdout, and with --json to a JSON file (with the machine's
load average before and after); --readme then rewrites the table between the README's
`<!-- bench -->` markers from that JSON (--render FILE does only that). Data and warehouses go
under --out (kept, and the generated data reused by a later run with the same --out) or a
temporary folder (removed).
"""

import argparse
import json
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
CHANGED_FILE = "customer-changed.json"  # the changed customer record, likewise
WITHDRAWN_FILE = "customer-withdrawn.json"  # the same customer's record withdrawing consent, likewise
SAMPLE_SECONDS = 0.05  # RSS sampling interval
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count()  # all CPUs, as /proc/stat counts them
QUIET_LOAD = 0.1  # measure once other processes use less than this share of the CPUs...
QUIET_WAIT = 120  # ...or after this many seconds of waiting (--quiet-wait)
ENGINES = ("duckdb", "spark")
KINDS = ("floor", "full", "noop", "plus", "changed", "withdrawn", "forget")  # what is measured per engine and scale

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
    changed: Path  # one customer's record, changed, landed as a new file for the changed-record run
    withdrawn: Path  # the same customer's next record, without research consent, likewise
    forgotten: str  # the email of the customer the forget run erases


@dataclass
class EngineFigures:
    """Every repetition's measurements of one engine at one scale: its floor and its stedi runs."""

    floor: list[Measurement] = field(default_factory=list)
    full: list[Measurement] = field(default_factory=list)
    noop: list[Measurement] = field(default_factory=list)
    plus: list[Measurement] = field(default_factory=list)
    changed: list[Measurement] = field(default_factory=list)  # only at the --ENGINE-changes scales
    withdrawn: list[Measurement] = field(default_factory=list)
    forget: list[Measurement] = field(default_factory=list)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    global QUIET_WAIT
    args = parse_args()
    QUIET_WAIT = args.quiet_wait
    if args.render:
        render_readme(json.loads(Path(args.render).read_text()), Path(args.readme))
        return
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="stedi-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    results = {"measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "versions": versions(),
               "stedi": code_version(), "stedi_commit": git_describe(), "repeat": args.repeat,
               "load_average_before": os.getloadavg(), "scales": []}
    for key in ("machine", "versions", "stedi"):
        print(results[key])
    print(f"repeat {args.repeat} (figures are medians); data and warehouses in {root}")
    plan = {engine: getattr(args, engine) for engine in ENGINES}
    changes = {engine: getattr(args, f"{engine}_changes") for engine in ENGINES}
    totals = {}
    try:
        for customers in sorted(set(plan["duckdb"] + plan["spark"])):
            scale = prepare(root / f"customers-{customers}", customers)
            bare = [bare_read(scale.landing) for _ in range(args.repeat)]
            figures = {engine: bench_engine(engine, scale, root, args.repeat, customers in changes[engine])
                       for engine in ENGINES if customers in plan[engine]}
            rows = bare_rows(bare[0])
            print_scale(scale, rows, bare, figures)
            sys.stdout.flush()
            totals[customers] = figures
            results["scales"].append(scale_results(scale, rows, bare, figures))
            results["load_average_after"] = os.getloadavg()
            if args.json:  # after each scale, so that an interrupted run keeps what it measured
                Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
                say(f"wrote {args.json}")
                if args.readme:
                    render_readme(results, Path(args.readme))
        print_engine_ratios(totals)
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for engine, default, changes in (("duckdb", "60000,120000,360000", "120000"), ("spark", "12000,120000", "")):
        parser.add_argument(f"--{engine}", default=default, type=_ints, metavar="SCALES",
                            help=f"customer counts for the {engine} engine, comma-separated (~84 accelerometer "
                                 f"rows per customer; default {default}; '' for none)")
        parser.add_argument(f"--{engine}-changes", default=changes, type=_ints, metavar="SCALES",
                            help=f"those of them at which to measure small changes too (default '{changes}')")
    parser.add_argument("--repeat", default=1, type=int, help="runs per measurement; the median is reported")
    parser.add_argument("--out", metavar="DIR", help="keep data and warehouses here (default: a temporary folder)")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON to FILE")
    parser.add_argument("--readme", metavar="FILE", help="rewrite FILE's table between <!-- bench --> markers")
    parser.add_argument("--render", metavar="FILE", help="measure nothing: render the JSON FILE into --readme")
    parser.add_argument("--quiet-wait", default=QUIET_WAIT, type=float, metavar="SECONDS",
                        help=f"wait at most this long for a quiet machine before each measurement ({QUIET_WAIT})")
    args = parser.parse_args()
    if args.render and not args.readme:
        parser.error("--render needs --readme")
    if args.readme and not (args.json or args.render):
        parser.error("--readme needs --json or --render")
    return args


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


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
    return f"stedi: {Path(stedi.__file__).resolve().parent}, git {git_describe()}"


def git_describe() -> str:
    """The commit of the `stedi` measured, `-dirty` if its tree has uncommitted changes."""
    package = Path(stedi.__file__).resolve().parent
    described = subprocess.run(["git", "-C", str(package), "describe", "--always", "--dirty"],
                               capture_output=True, text=True).stdout.strip()
    return described or "unknown"


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
    (landing / "customer" / "landing" / CHANGED_FILE).unlink(missing_ok=True)
    (landing / "customer" / "landing" / WITHDRAWN_FILE).unlink(missing_ok=True)
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
    changed, forgotten = consenting_customers(landing)
    record = dict(changed)
    for key in record:
        if key.lower() == "lastupdatedate":
            record[key] += 1000
        elif key.lower() == "phone":
            record[key] = "8015550000"
    (folder / "changed.json").write_text(json.dumps(record) + "\n")
    for key in record:
        if key.lower() == "lastupdatedate":
            record[key] += 1000
        elif key.lower() == "sharewithresearchasofdate":
            record[key] = None
    (folder / "withdrawn.json").write_text(json.dumps(record) + "\n")
    return Scale(customers, landing, extra, extra_rows, folder / "changed.json", folder / "withdrawn.json",
                 forgotten["email"])


def consenting_customers(landing: Path) -> tuple[dict, dict]:
    """The first two customer records of the generated data that consent to research."""
    found = []
    with open(landing / "customer" / "landing" / "customer-1.json") as handle:
        for line in handle:
            record = json.loads(line)
            if any(key.lower() == "sharewithresearchasofdate" and value for key, value in record.items()):
                found.append(record)
            if len(found) == 2:
                return found[0], found[1]
    raise RuntimeError(f"fewer than two consenting customers in {landing}")


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
def landed(extra: Path, target: Path):
    """`extra` as a new file `target` of a landing folder (a hard link), for one run."""
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


def floor_run(engine: str, landing: Path, root: Path) -> Measurement:
    """The table rules as a plain script on `engine` (`floor.py`), in a fresh process."""
    out = root / f"floor-{engine}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    try:
        result = measure_script(f"{engine} floor", str(Path(__file__).with_name("floor.py")), "--engine", engine,
                                str(landing), str(out))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    say(f"{engine} floor: {result.wall:.2f} s; " + "; ".join(line for _, line in result.stdout))
    return result


def bare_rows(result: Measurement) -> int:
    """The accelerometer row count a bare read printed."""
    return int(result.stdout[-1][1].split()[0])


def bench_engine(engine: str, scale: Scale, root: Path, repeat: int, changes: bool) -> EngineFigures:
    """The floor, then a full run into a fresh warehouse, a no-op rerun and a +1% rerun, and with
    `changes` a changed-record rerun, a withdrawn-consent rerun and a forget; `repeat` times."""
    figures = EngineFigures()
    landings = {"plus": (scale.extra, scale.landing / "accelerometer" / "landing" / PLUS_FILE),
                "changed": (scale.changed, scale.landing / "customer" / "landing" / CHANGED_FILE),
                "withdrawn": (scale.withdrawn, scale.landing / "customer" / "landing" / WITHDRAWN_FILE)}
    for n in range(repeat):
        say(f"{scale.customers} customers, {engine} floor {n + 1}/{repeat}")
        figures.floor.append(floor_run(engine, scale.landing, root))
        warehouse = root / f"warehouse-{engine}"
        shutil.rmtree(warehouse, ignore_errors=True)
        for kind in ("full", "noop", "plus", *(("changed", "withdrawn", "forget") if changes else ())):
            say(f"{scale.customers} customers, {engine}, {kind} run {n + 1}/{repeat}")
            with landed(*landings[kind]) if kind in landings else nullcontext():
                result = measure(stedi_forget(scale.forgotten, warehouse) if kind == "forget"
                                 else stedi_run(engine, scale.landing, warehouse))
            report_run(result)
            getattr(figures, kind).append(result)
        shutil.rmtree(warehouse, ignore_errors=True)  # a warehouse holds a copy of the landing data
    check_same_rows(engine, figures)
    return figures


def check_same_rows(engine: str, figures: EngineFigures) -> None:
    """Say loudly (stdout and stderr) when the floor and the full run built different machine_learning_curated."""
    floor, full = ml_rows(figures.floor[-1]), ml_rows(figures.full[-1])
    if floor is None or floor != full:
        message = (f"MISMATCH: {engine} floor built {floor} machine_learning_curated rows, stedi run {full}: "
                   f"they do not run the same rules, and the ratio to the floor means nothing")
        print(f"\n!!!!! {message} !!!!!\n", flush=True)
        say(message)


def ml_rows(result: Measurement) -> int | None:
    """The machine_learning_curated row count in a floor's step line or a run's table listing."""
    found = [m[1] for _, line in result.stdout
             if (m := re.match(r"machine_learning_curated(?::\s+\S+ s,|\s+curated)\s+(\d+)", line))]
    return int(found[-1]) if found else None


def stedi_run(engine: str, source: Path, warehouse: Path) -> list[str]:
    return [sys.executable, "-m", "stedi.cli", "run", "--engine", engine, "--source", str(source),
            "--warehouse", str(warehouse)]


def stedi_forget(email: str, warehouse: Path) -> list[str]:
    return [sys.executable, "-m", "stedi.cli", "forget", email, "--warehouse", str(warehouse)]


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


def summary(runs: list[Measurement]) -> dict:
    """Median wall seconds, peak RSS (MB) and CPU seconds of `runs`, the most of the CPUs others kept busy."""
    return {"wall_s": round(median(m.wall for m in runs), 2),
            "peak_rss_mb": round(median(m.peak_rss for m in runs) / 2**20),
            "cpu_s": round(median(m.cpu for m in runs), 1),
            "others": round(max(m.others for m in runs), 2),
            "failed": any(m.returncode for m in runs)}


def scale_results(scale: Scale, rows: int, bare: list[Measurement], figures: dict[str, EngineFigures]) -> dict:
    """One scale's figures, as the JSON holds and the tables show them."""
    bare_wall = median(m.wall for m in bare)
    engines = {}
    for engine, f in figures.items():
        full, floor = summary(f.full), summary(f.floor)
        engines[engine] = {
            "floor": floor | {"ml_rows": ml_rows(f.floor[-1])},
            "full": full | {"ml_rows": ml_rows(f.full[-1]), "rows_per_s": round(rows / full["wall_s"])},
            "noop": summary(f.noop) | {"commits": committed(f.noop[-1])},
            "plus": summary(f.plus) | {"commits": committed(f.plus[-1])},
            **({"changed": summary(f.changed) | {"commits": committed(f.changed[-1])},
                "withdrawn": summary(f.withdrawn) | {"commits": committed(f.withdrawn[-1])},
                "forget": summary(f.forget)}
               if f.changed else {}),
            "x_bare_read": round(full["wall_s"] / bare_wall, 2),
            "x_floor": round(full["wall_s"] / floor["wall_s"], 2),
            "same_rows_as_floor": ml_rows(f.floor[-1]) == ml_rows(f.full[-1]),
        }
    return {"customers": scale.customers, "accelerometer_rows": rows, "plus_rows": scale.extra_rows,
            "bare_read": summary(bare), "engines": engines}


def print_scale(scale: Scale, rows: int, bare: list[Measurement], figures: dict[str, EngineFigures]) -> None:
    """The table of one scale, and the stage timings of each engine's full, no-op and +1% runs."""
    results = scale_results(scale, rows, bare, figures)
    bare_read = results["bare_read"]
    print()
    print(f"== {scale.customers} customers: {rows:,} accelerometer rows in the full run, "
          f"+{scale.extra_rows:,} in the +1% run ==")
    print(f"bare DuckDB read of the accelerometer JSON: {bare_read['wall_s']:.2f} s "
          f"({rows / bare_read['wall_s']:,.0f} rows/s, peak RSS {bare_read['peak_rss_mb']} MB, "
          f"CPU {bare_read['cpu_s']:.1f} s, others {bare_read['others']:.0%})")
    header = ["engine", "wall s", "rows/s", "peak RSS MB", "CPU s", "x bare read", "floor s", "floor MB",
              "floor CPU s", "x floor", "ML rows", "floor ML rows", "no-op s", "no-op commits", "+1% s", "+1%/full",
              "+1% commits", "changed s", "changed/full", "changed commits", "withdrawn s", "withdrawn/full",
              "withdrawn commits", "forget s", "forget/full", "others %"]
    table = []
    for engine, e in results["engines"].items():
        full, floor, noop, plus = e["full"], e["floor"], e["noop"], e["plus"]
        failed = full["failed"] or noop["failed"] or plus["failed"]
        table.append([
            engine + (" (FAILED)" if failed else ""), f"{full['wall_s']:.2f}", f"{full['rows_per_s']:,}",
            f"{full['peak_rss_mb']}", f"{full['cpu_s']:.1f}", f"{e['x_bare_read']:.1f}", f"{floor['wall_s']:.2f}",
            f"{floor['peak_rss_mb']}", f"{floor['cpu_s']:.1f}", f"{e['x_floor']:.2f}", f"{full['ml_rows']}",
            f"{floor['ml_rows']}" + ("" if e["same_rows_as_floor"] else " MISMATCH"),
            f"{noop['wall_s']:.2f}", noop["commits"], f"{plus['wall_s']:.2f}",
            f"{plus['wall_s'] / full['wall_s']:.2f}", plus["commits"],
            *change_cells(e, full["wall_s"]),
            f"{max(e[kind]['others'] for kind in KINDS if kind in e):.0%}",
        ])
    print_rows(header, table)
    print("(peak RSS and CPU s: the whole process tree of the full run, the Spark JVM included; floor: "
          "floor.py on the same engine; others %: the most of the CPUs other processes used during any "
          "measurement of the row)")
    print()
    print("stages (s) of the median run of each kind:")
    columns = {f"{engine} {kind}": stages(median_run(getattr(f, kind)))
               for engine, f in figures.items() for kind in KINDS[1:] if getattr(f, kind)}
    names = []  # every column's stages, each column's in the order they ran
    for timings in columns.values():
        at = 0
        for name, _ in timings:
            if name not in names:
                names.insert(at, name)
            at = names.index(name) + 1
    table = [[name] + [_stage_seconds(timings, name) for timings in columns.values()] for name in names]
    print_rows(["stage"] + list(columns), table)


def change_cells(figures: dict, full_wall: float) -> list[str]:
    """The changed-record, withdrawn-consent and forget runs' seconds and share of the full run, and
    the tables the first two committed ("-" each where they were not measured)."""
    cells = []
    for kind in ("changed", "withdrawn", "forget"):
        run = figures.get(kind)
        cells += [f"{run['wall_s']:.2f}", f"{run['wall_s'] / full_wall:.2f}"] if run else ["-", "-"]
        if kind != "forget":
            cells.append(run["commits"] if run else "-")
    return cells


def render_readme(results: dict, readme: Path) -> None:
    """Rewrite the table between `<!-- bench -->` and `<!-- /bench -->` in `readme` from `results`."""
    lines = ["| customers | accelerometer rows | engine | wall s | rows/s | peak RSS (tree) | x bare read "
             "| plain script s | x plain script | CPU s | x plain script's CPU | no-op rerun s | +1% run / full "
             "| changed record / full | withdrawn consent / full | forget / full | others % |",
             "| " + " | ".join(["---"] * 17) + " |"]
    for scale in results["scales"]:
        for engine, e in scale["engines"].items():
            full, floor = e["full"], e["floor"]
            others = max(e[kind]["others"] for kind in KINDS if kind in e)
            changes = " | ".join(f"{e[kind]['wall_s'] / full['wall_s']:.2f}" if kind in e else "-"
                                 for kind in ("changed", "withdrawn", "forget"))
            lines.append(
                f"| {scale['customers']:,} | {scale['accelerometer_rows']:,} | {engine}"
                f"{' (FAILED)' if full['failed'] else ''} | {full['wall_s']:.1f} | {full['rows_per_s']:,} "
                f"| {full['peak_rss_mb']:,} MB | {e['x_bare_read']:.1f} | {floor['wall_s']:.1f} "
                f"| {e['x_floor']:.2f}{'' if e['same_rows_as_floor'] else ' (MISMATCH)'} "
                f"| {full['cpu_s']:.1f} | {full['cpu_s'] / floor['cpu_s']:.2f} | {e['noop']['wall_s']:.1f} | {e['plus']['wall_s'] / full['wall_s']:.2f} | {changes} | {others:.0%} |")
    before, after = results["load_average_before"], results["load_average_after"]
    lines += ["", f"Measured {results['measured']} at stedi commit {results['stedi_commit']} "
                  f"(repeat {results['repeat']}, the median), load average (1, 5, 15 min) "
                  f"{', '.join(f'{x:.1f}' for x in before)} before and {', '.join(f'{x:.1f}' for x in after)} after; "
                  f"{results['machine'].removeprefix('machine: ')}; {results['versions'].removeprefix('versions: ')}."]
    text = readme.read_text()
    begin, end = text.index("<!-- bench -->\n") + len("<!-- bench -->\n"), text.index("<!-- /bench -->")
    readme.write_text(text[:begin] + "\n".join(lines) + "\n" + text[end:])
    say(f"rewrote the table in {readme}")


def _stage_seconds(timings: list[tuple[str, float]], name: str) -> str:
    return next((f"{seconds:.2f}" for stage, seconds in timings if stage == name), "-")


def median_run(runs: list[Measurement]) -> Measurement:
    """The run of median wall time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda m: m.wall)[(len(runs) - 1) // 2]


def print_engine_ratios(totals: dict[int, dict[str, EngineFigures]]) -> None:
    """Per scale both engines ran, DuckDB time over Spark time for the full, no-op and +1% runs."""
    both = {customers: figures for customers, figures in totals.items() if len(figures) == 2}
    if not both:
        return
    print()
    print("DuckDB / Spark wall time (below 1: DuckDB faster)")
    table = []
    for customers, figures in both.items():
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
