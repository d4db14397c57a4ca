"""The `stedi` command: a thin layer over the Python API of the same shape."""

import argparse
import csv
import gc
import json
import os
import re
import signal
import sys
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from .deploy import DeployError
from .engines import DEFAULT_MEMORY_LIMIT, ENGINES, MEMORY_LIMIT_VARIABLE
from .landing import DEFAULT_MAX_LINE_BYTES, MAX_LINE_VARIABLE
from .report import DEFAULT_OUT
from .schema import CONSENT_POLICIES, DATABASE

DEFAULT_WAREHOUSE = "lakehouse"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.command(args) or 0
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        # stdout was closed (`stedi ... | head`): the work is done, only its report goes unread.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        if isinstance(error, RuntimeError) and str(error) == "Query interrupted":  # DuckDB's Ctrl-C
            return _interrupted()
        sentence = _sentence(error)
        if sentence is None:
            raise
        print(f"error: {sentence}", file=sys.stderr)
        return 1


def _interrupted() -> int:
    print("interrupted: every table is at its last committed state", file=sys.stderr)
    return 130


def _sentence(error: Exception) -> str | None:
    """What the user is told of an error they can act on; None for a bug (its traceback shows).
    The error classes are imported here, not at start: `stedi --help` loads no heavy library."""
    from pyiceberg.exceptions import CommitFailedException

    from .engines import EngineUnavailable
    from .pipeline import CheckFailed, RunStopped
    from .query import QueryError
    from .storage.s3 import StorageError
    from .storage.warehouse import WarehouseBusy

    if isinstance(error, CommitFailedException):
        return (f"a table changed while this command wrote it, so its commit was refused ({error}); "
                "every table is at its last committed state: run the command again")
    if isinstance(error, (QueryError, WarehouseBusy, CheckFailed, RunStopped, EngineUnavailable, StorageError,
                          DeployError, ValueError, FileNotFoundError)):
        return str(error)
    if isinstance(error, PermissionError):  # a file of the warehouse the user may not read or write
        return f"cannot access {error.filename}: permission denied" if error.filename else error.strerror
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stedi", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name, function, help, warehouse=True):
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(command=function)
        if not warehouse:
            return sub
        sub.add_argument("--warehouse", metavar="DIR", default=DEFAULT_WAREHOUSE,
                         help=f"a folder or s3://bucket/prefix (default {DEFAULT_WAREHOUSE})")
        sub.add_argument("--catalog", metavar="NAME",
                         help="an Iceberg catalog PyIceberg loads by name, e.g. glue (default: the warehouse's own)")
        sub.add_argument("--database", metavar="NAME", default=DATABASE, help=f"the catalog's database (default {DATABASE})")
        return sub

    def bounded(sub):
        sub.add_argument("--memory-limit", metavar="SIZE", help="the memory it may use before it spills to disk, "
                         f"e.g. 4GB (default ${MEMORY_LIMIT_VARIABLE}, else {DEFAULT_MEMORY_LIMIT})")
        return sub

    run = bounded(command("run", _run, "Ingest landing files and build every table."))
    run.add_argument("--source", metavar="DIR", help="folder or s3:// location laid out as DIR/<source>/landing/ "
                     "(JSON Lines files, gzip-compressed or not, at any depth)")
    run.add_argument("--max-line-bytes", metavar="N", type=int, help="quarantine landing lines longer than N bytes "
                     f"(default ${MAX_LINE_VARIABLE}, else {DEFAULT_MAX_LINE_BYTES})")
    run.add_argument("--consent-policy", choices=CONSENT_POLICIES,
                     help="any or as-of (default: the warehouse's; any for a new one); a change rebuilds every table")
    run.add_argument("--engine", choices=ENGINES, default="duckdb",
                     help="duckdb (embedded, the default) or spark (PySpark 3.5, as on AWS Glue)")
    run.add_argument("--spark-master", metavar="URL", help="Spark master (default local[*])")
    run.add_argument("--report", action="store_true", help=f"then write the report to {DEFAULT_OUT}")
    run.set_defaults(out=DEFAULT_OUT, open=False)

    query = bounded(command("query", _query, "Run read-only SQL over every table."))
    query.add_argument("sql", help="one read-only statement (SELECT); tables by name, or as <database>.<table>")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table", help="(default table)")

    command("tables", _tables, "List every table with its zone, rows, location and last commit.")

    history = command("history", _history, "List the snapshots of a table.")
    history.add_argument("table", help="a table's name, e.g. customer_trusted")

    vacuum = command("vacuum", _vacuum, "Expire old snapshots and delete the files nothing refers to.")
    vacuum.add_argument("--older-than", metavar="AGE", type=_age, default="7d",
                        help="e.g. 7d, 12h, 30m, 0s (default 7d)")

    forget = bounded(command("forget", _forget, "Erase a customer from every table, file and snapshot."))
    forget.add_argument("email", help="the customer's email, in any case")

    generate = command("generate", _generate, "Write realistic landing data with known ground truth.", warehouse=False)
    generate.add_argument("out_dir", help="the folder to write OUT_DIR/<source>/landing/*.json into")
    generate.add_argument("--customers", type=int, default=1000, help="how many customers (default 1000)")
    generate.add_argument("--seed", type=int, default=0, help="the random seed: the same seed writes the same data")
    generate.add_argument("--force", action="store_true", help="overwrite the generated files of a folder that is not empty")

    for long_running in (run, vacuum, forget, generate):
        long_running.add_argument("--quiet", action="store_true", help="show no progress")

    report = command("report", _report, "Write one self-contained HTML page of the warehouse.")
    report.add_argument("--out", metavar="FILE", default=DEFAULT_OUT, help=f"(default {DEFAULT_OUT})")
    report.add_argument("--open", action="store_true", help="then open it in a web browser")

    deploy = command("deploy", _deploy, "Create or update the lakehouse on AWS: S3, Glue jobs and workflow, Athena.",
                     warehouse=False)
    _aws_arguments(deploy)
    deploy.add_argument("--role-arn", metavar="ARN", help="the Glue jobs' role (default: deploy makes one)")
    deploy.add_argument("--database", default=DATABASE, help=f"Glue database (default {DATABASE})")
    deploy.add_argument("--source", metavar="DIR", help="landing folder to upload (DIR/<source>/landing/*.json), or "
                                                        "an s3:// landing folder (default s3://BUCKET/PREFIX/landing)")
    deploy.add_argument("--worker-type", default="G.1X", help="the Glue jobs' worker type (default G.1X)")
    deploy.add_argument("--workers", type=int, default=2, help="the Glue jobs' number of workers (default 2)")
    deploy.add_argument("--consent-policy", choices=CONSENT_POLICIES, default="any",
                        help="the jobs' consent policy (default any)")
    deploy.add_argument("--wheel", metavar="FILE", type=Path, help="a built project wheel (default: build one)")
    deploy.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    deploy.add_argument("--start", action="store_true", help="then run the workflow and follow it to the end")
    deploy.add_argument("--template", metavar="FILE", type=Path,
                        help="write a CloudFormation template (.yaml/.yml, else JSON) instead; no AWS call")

    destroy = command("destroy", _destroy, "Delete what stedi deploy made (found by its tag).", warehouse=False)
    _aws_arguments(destroy)
    destroy.add_argument("--delete-data", action="store_true",
                         help="also the landing data, the warehouse, the query results and the Glue tables")
    destroy.add_argument("--yes", action="store_true", help="confirm --delete-data without asking")
    return parser


def _where(args) -> dict:
    """The catalog and database options every warehouse command passes on."""
    return {"catalog": args.catalog, "database": args.database}


def _aws_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    parser.add_argument("--bucket", required=True, help="the S3 bucket (deploy makes it if it does not exist)")
    parser.add_argument("--prefix", default="", help="key prefix in the bucket (default none)")


@contextmanager
def _progress(args):
    """The progress callback of a long command (see `_shown`), which stops the command at its next
    stage once Ctrl-C was pressed: DuckDB can swallow the KeyboardInterrupt that Ctrl-C raises while
    a query runs (duckdb/duckdb#10216), and the command would go on to the end."""
    pressed = []

    def on_ctrl_c(signum, frame):
        pressed.append(signum)
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        with _shown(args) as show:
            def stage(message):
                if pressed:
                    raise KeyboardInterrupt
                show(message)

            yield stage
            if pressed:
                raise KeyboardInterrupt
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _shown(args):
    """Progress shown: nothing with --quiet; on a terminal, each stage live with its elapsed time;
    else a plain line per stage."""
    if args.quiet:
        yield lambda message: None
    elif not sys.stderr.isatty():
        yield lambda message: print(f"… {message}", file=sys.stderr, flush=True)
    else:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=Console(stderr=True)) as live:
            def stage(message: str) -> None:
                for task in live.tasks:  # the stage before ends: its clock stops
                    live.update(task.id, total=1, completed=1)
                live.add_task(message, total=None)

            yield stage


@contextmanager
def _importing():
    """Import a command's libraries: hundreds of thousands of objects that live as long as the
    process. The cycle collector, paused while they are made (none is garbage), leaves them out
    after: they cost it nothing then, nor at exit."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _run(args) -> int:
    with _importing():
        from . import accounting
        from .pipeline import run
        from .query import connect_tables, open_warehouse, tables

    options = {"master": args.spark_master} if args.spark_master else {}
    with _progress(args) as progress:
        result = run(args.warehouse, args.source, args.consent_policy, args.engine, progress=progress,
                     **_where(args), memory_limit=args.memory_limit, max_line_bytes=args.max_line_bytes, **options)
    for source, names in result.ingested.items():
        if names:
            print(f"ingested {len(names)} new {source} file(s)")
    for problem in result.skipped:
        print(f"skipped: {problem}")
    for problem in result.not_text:
        print(f"quarantined whole, not text: {problem}")
    print(f"committed {len(result.committed)} table(s), {len(result.unchanged)} unchanged")
    if result.checks:
        warnings = [f"{r.check.table}.{r.check.name}: {r.violations} rows" for r in result.checks if not r.passed]
        passed = sum(r.passed for r in result.checks)
        print(f"data-quality checks: {passed} passed" + "".join(f", warning {w}" for w in warnings))
    print()
    store = open_warehouse(args.warehouse, **_where(args))  # once, for the listing, the accounting and the report
    _print_rows(["table", "zone", "rows", "last commit"],
                [(t.name, t.zone, t.rows, t.last_commit) for t in tables(store)], "table")
    print()
    con = connect_tables(store, memory_limit=args.memory_limit)
    balanced = True
    for acc in accounting.account(con, result.consent_policy):
        balanced &= acc.balanced
        parts = [f"{acc.kept} kept"] + [f"{n} {rule}" for rule, n in acc.left_out.items() if n]
        parts.append(f"{acc.quarantined} quarantined")
        check = "" if acc.balanced else "  (DOES NOT BALANCE)"
        print(f"{acc.source}: {acc.landing_rows} landing rows = {' + '.join(parts)}{check}")
    if args.report:
        _report(args, store)
    return 0 if balanced else 1


def _query(args) -> None:
    with _importing():
        from .query import query

    _print_rows(*query(args.warehouse, args.sql, **_where(args), memory_limit=args.memory_limit), args.format)


def _tables(args) -> None:
    with _importing():
        from .query import tables

    rows = [(t.name, t.zone, t.rows, t.location, t.last_commit) for t in tables(args.warehouse, **_where(args))]
    _print_rows(["table", "zone", "rows", "location", "last commit"], rows, "table")


def _age(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhms])", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 7d, 12h, 30m or 0s")
    unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}[match[2]]
    return timedelta(**{unit: int(match[1])})


def _history(args) -> None:
    with _importing():
        from .maintenance import history

    rows = [(s.snapshot_id, s.committed_at, s.operation, s.added_rows, s.deleted_rows, s.total_rows,
             "*" if s.current else "") for s in history(args.warehouse, args.table, **_where(args))]
    _print_rows(["snapshot", "committed", "operation", "added", "deleted", "rows", "current"], rows, "table")


def _vacuum(args) -> None:
    with _importing():
        from .maintenance import vacuum

    with _progress(args) as progress:
        progress("expiring old snapshots and deleting the files nothing refers to")
        result = vacuum(args.warehouse, args.older_than, **_where(args))
    print(f"expired {result.expired_snapshots} snapshot(s), deleted {result.deleted_files} file(s)")


def _forget(args) -> None:
    with _importing():
        from .erasure import forget

    with _progress(args) as progress:
        result = forget(args.warehouse, args.email, **_where(args), memory_limit=args.memory_limit, progress=progress)
    lines = ", ".join(f"{n} {source}" for source, n in result.lines_removed.items())
    print(f"forgot the customer: removed {lines} landing line(s) and {result.devices} device(s); "
          "every table recomputed without them, no old snapshot kept")


def _generate(args) -> None:
    from .generate import generate

    with _progress(args) as progress:
        truth = generate(args.out_dir, customers=args.customers, seed=args.seed, progress=progress, force=args.force)
    lines = ", ".join(f"{n} {source}" for source, n in truth["lines"].items())
    print(f"wrote {lines} landing lines to {args.out_dir} (ground truth in ground_truth.json)")


def _report(args, store=None) -> None:
    with _importing():
        import webbrowser

        from .report import report

    path = report(store or args.warehouse, args.out, **_where(args))
    print(f"wrote the report to {path}")
    if args.open:
        webbrowser.open(path.resolve().as_uri())


def _deploy(args) -> int:
    from . import deploy

    options = {name: getattr(args, name) for name in ("bucket", "prefix", "role_arn", "database", "source",
                                                       "worker_type", "workers", "consent_policy")}
    if args.template:
        deploy.write_template(deploy.Target(region=args.region or "", **options), args.template)
        print(f"wrote {args.template}: upload the job scripts and the wheel with `stedi deploy`, or as its "
              "Description says, before creating the stack")
        return 0
    target = deploy.Target(region=deploy.resolve_region(args.region), **options)
    steps = deploy.deploy(target, wheel=args.wheel, dry_run=args.dry_run,
                          report=lambda s: print(f"{s.action:<10} {s.resource.kind:<17} {s.resource.name}"))
    counts = Counter(step.action for step in steps)
    summary = f"{counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged"
    print(f"dry run, nothing changed: {summary}" if args.dry_run else
          f"deployed {target.tag}: {summary.replace('to create', 'created').replace('to update', 'updated')}")
    if args.start and not args.dry_run:
        return 0 if deploy.run_workflow(target, report=print) else 1
    return 0


def _destroy(args) -> int:
    from . import deploy

    target = deploy.Target(region=deploy.resolve_region(args.region), bucket=args.bucket, prefix=args.prefix)
    if args.delete_data and not args.yes:
        if not sys.stdin.isatty():
            raise DeployError("--delete-data deletes the landing data, the warehouse and its tables: "
                              "confirm with --yes")
        if input(f"delete the data and tables of {target.tag} too? type the bucket name: ").strip() != args.bucket:
            print("nothing deleted")
            return 1
    deleted = deploy.destroy(target, args.delete_data, report=lambda kind, name: print(f"deleted {kind} {name}"))
    print(f"destroyed {target.tag}: {len(deleted)} resource(s) deleted"
          + ("" if args.delete_data else "; the landing data, warehouse and tables stay (--delete-data removes them)"))
    return 0


def _print_rows(columns: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        print(json.dumps([dict(zip(columns, row)) for row in rows], indent=2, default=str))
    else:
        text = [[("" if v is None else str(v)) for v in row] for row in rows]
        widths = [max([len(c)] + [len(r[i]) for r in text]) for i, c in enumerate(columns)]
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
        print("  ".join("-" * w for w in widths))
        for row in text:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
