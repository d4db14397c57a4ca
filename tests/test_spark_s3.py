"""The Spark engine on S3 through Hadoop's S3A connector, against the AWS emulator: landing objects
are read and Parquet objects written at s3:// paths, with nothing but the standard AWS environment,
and the secret key shows up in no log and no error."""

import io
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from stedi.contract import ACCELEROMETER
from stedi.engines.spark import SparkEngine, java_available, s3a_jars

pytestmark = [
    pytest.mark.skipif(not java_available(), reason="the Spark engine needs Java, which is not installed"),
    pytest.mark.skipif(not s3a_jars(), reason="the S3A jars are missing: run make setup-spark"),
]

READINGS = [{"user": "a@example.com", "timestamp": 1655564444103 + i, "x": 1.0, "y": -0.5, "z": 0.25} for i in range(3)]


def put_landing(bucket: str) -> list[str]:
    """Two JSON Lines objects under landing/accelerometer/ (one of them with a malformed line)."""
    s3 = boto3.client("s3")
    first = "".join(json.dumps(reading) + "\n" for reading in READINGS[:2])
    second = json.dumps(READINGS[2]) + "\n{not json\n"
    keys = {"landing/accelerometer/a.json": first, "landing/accelerometer/b.json": second}
    for key, text in keys.items():
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    return [f"s3://{bucket}/{key}" for key in keys]


@contextmanager
def jvm_log(spark):
    """Collect what the session's JVM logs meanwhile, at INFO for Spark and DEBUG for Hadoop (S3A)
    and the AWS SDK, into a string read with the yielded function (the console sees none of it)."""
    log4j = spark._jvm.org.apache.logging.log4j
    context = log4j.LogManager.getContext(False)
    config = context.getConfiguration()
    writer = spark._jvm.java.io.StringWriter()
    appender = log4j.core.appender.WriterAppender.createAppender(
        log4j.core.layout.PatternLayout.createDefaultLayout(), None, writer, "stedi-test", False, True
    )
    appender.start()
    levels = {"org.apache.spark": log4j.Level.INFO, "org.apache.hadoop": log4j.Level.DEBUG, "com.amazonaws": log4j.Level.DEBUG}
    for name, level in levels.items():
        logger = log4j.core.config.LoggerConfig(name, level, False)
        logger.addAppender(appender, None, None)
        config.addLogger(name, logger)
    context.updateLoggers()
    try:
        yield writer.toString
    finally:
        for name in levels:
            config.removeLogger(name)
        context.updateLoggers()
        appender.stop()


def test_spark_reads_landing_objects_and_writes_parquet_objects(aws, bucket, tmp_path):
    engine = SparkEngine(tmp_path)
    with jvm_log(engine.spark) as log:
        written, not_text = engine.parse_landing(ACCELEROMETER, put_landing(bucket), f"s3://{bucket}/parsed/accelerometer",
                                                 1 << 20)
        logged = log()

    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="parsed/accelerometer/")["Contents"]
    parts = sorted(f"s3://{bucket}/{o['Key']}" for o in listed if o["Key"].endswith(".parquet"))
    assert written == parts and parts and not_text == {}
    rows = [
        row
        for part in parts
        for row in pq.read_table(
            io.BytesIO(boto3.client("s3").get_object(Bucket=bucket, Key=part.split("/", 3)[3])["Body"].read())
        ).to_pylist()
    ]
    assert sorted(((r["file"].rsplit("/", 1)[1], r["reason"], r["timestamp"]) for r in rows), key=repr) == [
        ("a.json", None, 1655564444103), ("a.json", None, 1655564444104),
        ("b.json", "not a JSON object", None), ("b.json", None, 1655564444105),
    ]
    assert all(r["file"].startswith(f"s3://{bucket}/landing/accelerometer/") for r in rows)
    assert "S3AFileSystem" in logged  # the capture saw S3A at work ...
    assert aws["AWS_SECRET_ACCESS_KEY"] not in logged  # ... and never the secret
    assert all(aws["AWS_SECRET_ACCESS_KEY"] not in value for _, value in engine.spark.sparkContext.getConf().getAll())


def test_a_missing_bucket_fails_without_the_secret_in_the_error(aws, tmp_path):
    engine = SparkEngine(tmp_path)
    with pytest.raises(Exception) as failure:
        engine.parse_landing(ACCELEROMETER, ["s3://stedi-no-such-bucket/landing/a.json"], str(tmp_path / "parsed"), 1 << 20)
    assert "stedi-no-such-bucket" in str(failure.value)
    assert aws["AWS_SECRET_ACCESS_KEY"] not in str(failure.value)


def test_spark_submit_reads_s3_with_the_jars(aws, bucket, tmp_path):
    """What a Glue job script does locally: spark-submit --master local[*] with the jars (glue/README.md)."""
    files = put_landing(bucket)
    script = tmp_path / "count.py"
    script.write_text(
        "import sys\n"
        "from stedi.engines.spark import configure_s3, spark_session\n"
        "spark = spark_session()\n"
        "configure_s3(spark)\n"
        "print('lines:', spark.read.text(sys.argv[1:]).count())\n"
    )
    submit = [
        str(Path(sys.executable).parent / "spark-submit"), "--master", "local[*]",
        "--driver-class-path", os.pathsep.join(s3a_jars()), "--conf", "spark.ui.enabled=false", str(script), *files,
    ]
    env = os.environ | {"PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "lines: 4" in done.stdout
    assert aws["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
