"""The Glue jobs in glue/: Glue-style job arguments, the AWS Glue wrapper, and a real local spark-submit."""

import argparse
import ast
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import pyspark
from stedi import generate, glue, query
from stedi.engines.spark import java_available, s3a_jars

GLUE = Path(__file__).resolve().parents[1] / "glue"
JOBS = ["customer_trusted", "accelerometer_trusted", "customer_curated", "step_trainer_trusted",
        "machine_learning_curated"]

def test_each_job_is_one_call_to_the_shared_main():
    assert sorted(p.stem for p in GLUE.glob("*.py")) == sorted(JOBS)
    for name in JOBS:
        body = [node for node in ast.parse((GLUE / f"{name}.py").read_text()).body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]  # docstring
        imports, guard = body
        assert ast.unparse(imports) == "from stedi.glue import main"
        assert ast.unparse(guard) == f"if __name__ == '__main__':\n    main('{name}')"


GLUE_EXTRAS = [
    "--JOB_ID", "j_0123", "--JOB_RUN_ID", "jr_0123", "--job-bookmark-option", "job-bookmark-disable",
    "--TempDir", "s3://aws-glue-assets/temporary/", "--enable-metrics", "--job-language", "python",
]


def test_glue_arguments_it_does_not_know_are_ignored():
    argv = [*GLUE_EXTRAS, "--JOB_NAME", "ct", "--warehouse", "/data/wh", "--enable-glue-datacatalog",
            "--consent_policy", "as-of", "--source", "/data/in", "--conf", "spark.x=1"]
    assert glue.parse_args("customer_trusted", argv) == {
        "JOB_NAME": "ct", "warehouse": "/data/wh", "catalog": None, "database": "stedi", "consent_policy": "as-of",
        "source": "/data/in"
    }


def test_an_s3_warehouse_in_the_glue_catalog():
    argv = ["--warehouse", "s3://bucket/lakehouse", "--source", "s3://bucket/landing", "--catalog", "glue",
            "--database", "research"]
    assert glue.parse_args("customer_trusted", argv) == {
        "JOB_NAME": "stedi-customer_trusted", "warehouse": "s3://bucket/lakehouse", "catalog": "glue",
        "database": "research", "consent_policy": None, "source": "s3://bucket/landing"
    }


def test_defaults_and_a_blank_source():
    assert glue.parse_args("customer_curated", ["--warehouse", "wh", "--source", "", "--catalog", ""]) == {
        "JOB_NAME": "stedi-customer_curated", "warehouse": "wh", "catalog": None, "database": "stedi",
        "consent_policy": None, "source": None
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        ([*GLUE_EXTRAS, "--JOB_NAME", "ct"], "the following arguments are required: --warehouse"),
        (["--warehouse", "wh", "--consent_policy", "never"], "--consent_policy: invalid choice: 'never'"),
        (["--ware", "wh"], "the following arguments are required: --warehouse"),  # no abbreviations
    ],
)
def test_bad_arguments_give_one_clear_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        glue.parse_args("customer_trusted", argv)
    assert exit.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]


def test_only_tables_a_rule_builds_have_jobs():
    with pytest.raises(ValueError, match="no Glue job builds 'customer_landing'"):
        glue.main("customer_landing", ["--warehouse", "wh"])


def test_on_aws_glue_the_run_is_a_glue_job(monkeypatch):
    """With awsglue importable: getResolvedOptions resolves the arguments, Job.init ... build ... commit."""
    calls = []

    def getResolvedOptions(args, options):  # like awsglue's: the listed options are required
        calls.append(("resolve", options))
        parsed = argparse.ArgumentParser()
        for option in options:
            parsed.add_argument(f"--{option}", required=True)
        return vars(parsed.parse_known_args(args[1:])[0])

    class Job:
        def __init__(self, context):
            calls.append(("job", context))

        def init(self, name, args):
            calls.append(("init", name, args))

        def commit(self):
            calls.append(("commit",))

    modules = {
        "awsglue": types.ModuleType("awsglue"),
        "awsglue.context": types.SimpleNamespace(GlueContext=lambda sc: ("glue", sc)),
        "awsglue.job": types.SimpleNamespace(Job=Job),
        "awsglue.utils": types.SimpleNamespace(getResolvedOptions=getResolvedOptions),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(glue, "_spark_context", lambda: "sc")
    monkeypatch.setattr(glue, "_build", lambda table, args: calls.append(("build", table, args)) or "result")

    argv = [*GLUE_EXTRAS, "--JOB_NAME", "ct", "--warehouse", "/data/wh", "--consent_policy", "as-of"]
    assert glue.main("customer_trusted", argv) == "result"
    args = {"JOB_NAME": "ct", "warehouse": "/data/wh", "catalog": None, "database": "stedi", "consent_policy": "as-of",
            "source": None}
    assert calls == [
        ("resolve", ["JOB_NAME", "warehouse", "consent_policy"]),  # --source absent: not required
        ("job", ("glue", "sc")),
        ("init", "ct", {"JOB_NAME": "ct", "warehouse": "/data/wh", "consent_policy": "as-of"}),
        ("build", "customer_trusted", args),
        ("commit",),
    ]


def _spark_submit(script: Path, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`spark-submit` of a job script, as glue/README.md says (with the S3A jars on the driver's
    class path, for s3:// warehouses)."""
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    command = [str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
               "--driver-class-path", os.pathsep.join(s3a_jars()), str(script), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.skipif(not java_available(), reason="spark-submit needs Java (17) on PATH or JAVA_HOME")
def test_a_glue_job_runs_under_spark_submit(tmp_path):
    truth = generate(tmp_path / "in", customers=30)
    warehouse = tmp_path / "wh"
    args = [*GLUE_EXTRAS, "--JOB_NAME", "customer_trusted", "--warehouse", str(warehouse),
            "--source", str(tmp_path / "in")]
    done = _spark_submit(GLUE / "customer_trusted.py", args, tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    output = done.stdout + done.stderr  # spark-submit merges the driver's stderr into its stdout
    assert "[customer_trusted] committed customer_landing, quarantine, customer_trusted" in output

    def count(table):
        return query(str(warehouse), f"SELECT COUNT(*) FROM {table}")[1][0][0]

    assert count("customer_trusted") == truth["rows"]["any"]["customer_trusted"]
    assert count("customer_landing") == truth["rows"]["any"]["customer_landing"]
    assert count("accelerometer_landing") == 0  # ingested, but no input of customer_trusted


@pytest.mark.skipif(not java_available(), reason="spark-submit needs Java (17) on PATH or JAVA_HOME")
def test_the_five_jobs_in_the_workflow_s_order_build_in_s3_and_glue_what_a_local_run_builds(tmp_path, bucket, aws,
                                                                                           salted):
    """Each job script under spark-submit, with the arguments `stedi deploy` gives the Glue jobs,
    against the AWS emulator: S3 warehouse, landing objects, the Glue Data Catalog."""
    import boto3
    from conftest import contents

    from stedi import run
    from stedi.deploy import JOBS as WORKFLOW

    generate(tmp_path / "in", customers=40, seed=9)
    s3 = boto3.client("s3")
    for path in (tmp_path / "in").glob("*/landing/*.json"):
        s3.upload_file(str(path), bucket, f"landing/{path.relative_to(tmp_path / 'in')}")
    database = bucket.replace("-", "_")
    for job in WORKFLOW:
        args = [*GLUE_EXTRAS, "--JOB_NAME", job, "--warehouse", f"s3://{bucket}/lakehouse", "--source",
                f"s3://{bucket}/landing", "--catalog", "glue", "--database", database, "--consent_policy", "any"]
        done = _spark_submit(GLUE / f"{job}.py", args, tmp_path)
        assert done.returncode == 0, done.stderr[-4000:]
        assert aws["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
    run(str(tmp_path / "local"), str(tmp_path / "in"))
    assert contents(f"s3://{bucket}/lakehouse", catalog="glue", database=database) == contents(tmp_path / "local")
