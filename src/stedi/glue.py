"""AWS Glue job entry points: each Glue job builds one table with the shared pipeline on Spark.

Every script in ``glue/`` is ``from stedi.glue import main`` and ``main("<table>")``: it takes
the job arguments the way Glue passes them (``--NAME value`` pairs, arguments it does not know
ignored, such as Glue's own ``--job-bookmark-option`` or ``--TempDir``), ingests ``--source``
first when given, and builds its table and the tables it is built from (``stedi.run(...,
engine="spark", tables=[table])``). On AWS Glue (``awsglue`` importable) the arguments are resolved
with ``getResolvedOptions`` and the run is wrapped in a Glue ``Job``; elsewhere, such as under a
local ``spark-submit``, they are parsed here.

Job arguments: ``--warehouse`` (required: a folder or ``s3://bucket/prefix``), ``--catalog``
(an Iceberg catalog by name, e.g. ``glue``; required for an S3 warehouse), ``--database`` (default
stedi), ``--consent_policy any|as-of`` (default: the warehouse's, any for a new one), ``--source`` (optional landing location laid
out as <source>/<name>/landing/*.json), ``--JOB_NAME`` (set by Glue; optional elsewhere).
"""

import argparse
import sys

from .pipeline import CONSENT_POLICIES, RunResult, run
from .schema import DATABASE, TABLES

OPTIONAL = ("consent_policy", "source", "catalog", "database")


def main(table: str, argv: list[str] | None = None) -> RunResult:
    """Build `table` from the job arguments `argv` (default sys.argv[1:]) on Spark."""
    if table not in TABLES or TABLES[table].rule is None:
        raise ValueError(f"no Glue job builds {table!r}; jobs build {', '.join(t for t in TABLES if TABLES[t].rule)}")
    argv = sys.argv[1:] if argv is None else argv
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from awsglue.utils import getResolvedOptions
    except ImportError:  # not on AWS Glue: a plain (local or cluster) spark-submit
        return _build(table, parse_args(table, argv))
    names = ["JOB_NAME", "warehouse", *(name for name in OPTIONAL if f"--{name}" in argv)]
    resolved = getResolvedOptions(["job", *argv], names)
    args = parse_args(table, [item for name in names for item in (f"--{name}", resolved[name])])
    job = Job(GlueContext(_spark_context()))
    job.init(args["JOB_NAME"], resolved)
    result = _build(table, args)
    job.commit()
    return result


def parse_args(table: str, argv: list[str]) -> dict:
    """The job's arguments from Glue-style `--NAME value` pairs; arguments it does not know are ignored."""
    parser = argparse.ArgumentParser(
        prog=f"{table}.py", allow_abbrev=False, description=f"Build {table} (and what it is built from) on Spark."
    )
    parser.add_argument("--JOB_NAME", default=f"stedi-{table}", help="job name (Glue sets it)")
    parser.add_argument("--warehouse", required=True, type=_optional, metavar="LOCATION",
                        help="warehouse root: a folder or s3://bucket/prefix")
    parser.add_argument("--catalog", type=_optional, metavar="NAME", help="Iceberg catalog, e.g. glue")
    parser.add_argument("--database", type=_optional, default=DATABASE, metavar="NAME", help="the catalog's database")
    parser.add_argument("--consent_policy", choices=CONSENT_POLICIES,
                        help="default: the warehouse's (any for a new one)")
    parser.add_argument("--source", type=_optional, metavar="LOCATION", help="landing location to ingest first")
    args, _glue_arguments = parser.parse_known_args(argv)
    return vars(args)


def _optional(value: str) -> str | None:
    """An empty value (a Glue parameter left blank) is none."""
    return value or None


def _spark_context():
    """The Spark context Glue's job wraps; the engine's session then shares it."""
    from .engines.spark import spark_session

    return spark_session().sparkContext


def _build(table: str, args: dict) -> RunResult:
    def progress(message: str) -> None:
        print(f"[{args['JOB_NAME']}] {message}", file=sys.stderr, flush=True)

    result = run(args["warehouse"], args["source"], args["consent_policy"], engine="spark", progress=progress,
                 tables=[table], catalog=args["catalog"], database=args["database"] or DATABASE)
    for source, names in result.ingested.items():
        if names:
            progress(f"ingested {len(names)} new {source} file(s)")
    progress(f"committed {', '.join(result.committed) or 'nothing: every table was up to date'}")
    return result
