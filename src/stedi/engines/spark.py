"""The scale-out engine: PySpark 3.5 (the Spark of AWS Glue 5.0) runs the same rules.

Rules are DuckDB SQL; sqlglot transpiles them to Spark SQL here, the one place that knows the
difference. Spark reads landing files as text, in parallel; each partition splits its lines into
fields with the very tokenizer the DuckDB engine uses (DuckDB as a library, batch by batch), so
both engines quarantine the same lines for the same reasons. Nothing is collected to the driver.
"""

import importlib.util
import os
import shutil
import sys
from functools import cache
from pathlib import Path

import sqlglot

from ..contract import Source
from ..landing import KEPT_CHARACTERS, NOT_UTF8, too_long, validated_sql
from ..storage import files as storage
from ..storage import text
from . import CLUSTERS, EngineUnavailable, megabytes, resolved_memory_limit
from .common import Inputs

SPARK_TYPES = {"VARCHAR": "string", "BIGINT": "bigint", "DOUBLE": "double", "BOOLEAN": "boolean"}
S3A = "org.apache.hadoop.fs.s3a.S3AFileSystem"
# Hadoop decompresses a file by its name's suffix (and fails on a file that is not so compressed)
HADOOP_CODEC_SUFFIXES = (".gz", ".bz2", ".deflate", ".snappy", ".lz4", ".zst")


def to_spark(sql: str) -> str:
    """A DuckDB rule in Spark SQL."""
    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def java_available() -> bool:
    return bool(os.environ.get("JAVA_HOME") or shutil.which("java"))


def on_glue() -> bool:
    """On AWS Glue, whose Spark serves s3:// itself (EMRFS): nothing to add or remap."""
    return importlib.util.find_spec("awsglue") is not None


def s3a_jars() -> list[str]:
    """The S3A jars (hadoop-aws and its AWS SDK) `make setup-spark` resolved, from the folder
    STEDI_SPARK_JARS, else <venv>/share/stedi/jars; none if it is missing."""
    folder = os.environ.get("STEDI_SPARK_JARS") or Path(sys.prefix) / "share" / "stedi" / "jars"
    return sorted(str(jar) for jar in Path(folder).glob("*.jar"))


@cache
def spark_session(master: str | None = None, memory_limit: str | None = None):
    """One Spark session per process (starting one costs seconds). The master is `master`, else
    the one spark-submit set, else STEDI_SPARK_MASTER, else local[*]; the driver's memory is
    `memory_limit` (see `resolved_memory_limit`) when this call starts the JVM. A session this
    process starts gets the S3A jars (`s3a_jars`); under spark-submit, pass them on its command
    line (glue/README.md)."""
    if not java_available():
        raise EngineUnavailable("the Spark engine needs Java (17) on PATH or JAVA_HOME; none was found")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers need this project's packages
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if master or not SparkConf().contains("spark.master"):  # not spark-submit: this process starts the JVM
        master = master or os.environ.get("STEDI_SPARK_MASTER", "local[*]")
        builder = builder.master(master)
        jars = [] if on_glue() else s3a_jars()
        if jars and master.startswith("local"):  # executors share the driver's classpath: no 270 MB copy
            builder = builder.config("spark.driver.extraClassPath", os.pathsep.join(jars))
        elif jars:
            builder = builder.config("spark.jars", ",".join(jars))
    spark = (
        builder.appName("stedi-lakehouse")
        .config("spark.driver.memory", f"{megabytes(resolved_memory_limit(memory_limit))}m")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", os.environ.get("STEDI_SPARK_SHUFFLE_PARTITIONS", "8"))
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.caseSensitive", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@cache
def configure_s3(spark) -> None:
    """Serve s3:// and s3a:// with S3A on `spark`, at the S3 endpoint and region of the standard AWS
    configuration. Credentials stay out of Spark's conf: the AWS SDK's default chain reads them
    (environment, profile, instance role). Called on the first S3 path; a no-op on AWS Glue."""
    if on_glue():
        return
    from ..storage.s3 import settings

    s3 = settings()
    options = {
        "fs.s3.impl": S3A,
        "fs.s3a.impl": S3A,
        "fs.s3a.aws.credentials.provider": "com.amazonaws.auth.DefaultAWSCredentialsProviderChain",
    }
    if s3.endpoint:
        options |= {
            "fs.s3a.endpoint": s3.endpoint,
            "fs.s3a.endpoint.region": s3.region,
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": str(s3.use_ssl).lower(),
        }
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in options.items():
        conf.set(key, value)


class SparkEngine:
    name = "spark"

    def __init__(self, spill: Path, master: str | None = None, memory_limit: str | None = None):
        self.master, self.memory_limit = master, memory_limit
        self.session = None

    @property
    def spark(self):
        """The session, started on first use: a run with nothing to build starts no JVM."""
        if self.session is None:
            self.session = spark_session(self.master, self.memory_limit)
        return self.session

    def _reach(self, *paths) -> None:
        """Configure S3 on the session the first time a path is on S3."""
        if any(str(path).startswith(("s3://", "s3a://")) for path in paths):
            configure_s3(self.spark)

    def close(self) -> None:
        if self.session is not None:
            for view in self.session.catalog.listTables():
                if view.isTemporary:
                    self.session.catalog.dropTempView(view.name)

    def parse_landing(self, source: Source, files: list[str], out_dir: str,
                      max_line_bytes: int) -> tuple[list[str], dict[str, str]]:
        """Read and validate every line of `files`; write (file, record, reason, typed columns).
        Return the files written, and why each file that is not text is not.

        Spark reads the files whose name says how they are compressed; Python, on the driver,
        the few others (see `python_lines`). A file that is not text is one quarantined line."""
        from pyspark.sql import functions as F

        from .duckdb import python_lines

        self._reach(*files)
        native, others, not_text = [], [], {}
        for path in files:
            try:
                compressed = text.check(path)
            except text.NotText as error:
                not_text[path] = str(error)
                continue
            named_right = path.endswith(".gz") if compressed else not path.endswith(HADOOP_CODEC_SUFFIXES)
            (native if named_right else others).append(path)
        lines = None
        if native:
            raw = self.spark.read.format("text").option("lineSep", "\n").load(native).select(
                _location(F.input_file_name()).alias("file"), F.col("value").cast("binary").alias("bytes"))
            decoded = F.decode("bytes", "UTF-8")
            is_long = F.expr("length(bytes) - IF(right(bytes, 1) = X'0D', 1, 0)") > max_line_bytes  # CRLF: CR off
            lines = raw.select(
                "file",
                F.when(is_long, F.substring(decoded, 1, KEPT_CHARACTERS))  # a line ends at LF, or CRLF
                .otherwise(F.regexp_replace(decoded, "^\ufeff|\r\\z", "")).alias("record"),
                F.when(is_long, F.lit(too_long(max_line_bytes)))
                .when(F.encode(decoded, "UTF-8") != F.col("bytes"), F.lit(NOT_UTF8)).alias("read_error"),
            ).where("record != ''")
        if others or not_text:
            read = python_lines(others, max_line_bytes, not_text).read_all()
            frame = self.spark.createDataFrame(read.to_pandas(), "file string, record string, read_error string")
            lines = frame if lines is None else lines.unionByName(frame)
        schema = _lines_schema(source)
        if lines is None:
            lines = self.spark.createDataFrame([], "file string, record string, read_error string")
        tokenized = lines.mapInArrow(_tokenizer(source), schema)
        tokenized.createOrReplaceTempView("lines")
        return self._write(self.spark.sql(to_spark(validated_sql(source, "lines"))), out_dir), not_text

    def write(self, sql: str, inputs: Inputs, out_dir: str, parameters: dict | None = None,
              cluster_by: str | None = None, joins_as_written: bool = False) -> list[str]:
        """Run `sql` over `inputs` (table name -> Parquet files) and write its rows as Parquet files;
        with `cluster_by`, the rows of each value of that column in one of `CLUSTERS` files.
        (`joins_as_written` changes nothing: adaptive execution picks the side a join broadcasts
        from the sizes it measures.)"""
        self._bind(inputs, parameters)
        frame = self.spark.sql(to_spark(sql))
        return self._write(frame.repartition(CLUSTERS, cluster_by) if cluster_by else frame, out_dir)

    def files_where(self, files: list[str], condition: str, inputs: Inputs) -> list[str]:
        """The files of `files` holding a row that meets `condition` (over their columns and `inputs`)."""
        from pyspark.sql import functions as F

        if not files:
            return []
        self._bind(inputs, None)
        self._reach(*files)
        self.spark.read.parquet(*files).withColumn("stedi_file", _location(F.input_file_name())) \
            .createOrReplaceTempView("stedi_files")
        held = self.spark.sql(to_spark(f"SELECT DISTINCT stedi_file FROM stedi_files WHERE {condition}"))
        return sorted(row.stedi_file for row in held.collect())

    def count(self, sql: str, inputs: Inputs, parameters: dict | None = None) -> int:
        """How many rows `sql` returns over `inputs`."""
        self._bind(inputs, parameters)
        return self.spark.sql(to_spark(sql)).count()

    def _bind(self, inputs: Inputs, parameters: dict | None) -> None:
        for name, (files, columns) in inputs.items():
            self._reach(*files)
            schema = ", ".join(f"`{c}` {SPARK_TYPES[t]}" for c, t in columns)
            frame = self.spark.read.schema(schema).parquet(*files) if files else self.spark.createDataFrame([], schema)
            frame.createOrReplaceTempView(name)
        if parameters is not None:
            self.spark.createDataFrame(
                [(parameters["consent_policy"], parameters["salt"])], "consent_policy string, salt string"
            ).createOrReplaceTempView("run_parameters")

    def _write(self, frame, out_dir: str) -> list[str]:
        self._reach(out_dir)
        frame.write.mode("errorifexists").parquet(out_dir)
        return [f.location for f in storage.list_files(out_dir, ".parquet") if storage.basename(f.location).startswith("part-")]


def _location(uri):
    """The location of a file Spark names by its URI (file:///a%20b, s3://bucket/key)."""
    from pyspark.sql import functions as F

    decoded = F.reflect(F.lit("java.net.URLDecoder"), F.lit("decode"), F.replace(uri, F.lit("+"), F.lit("%2B")),
                        F.lit("UTF-8"))
    return F.regexp_replace(decoded, "^file:(//)?", "")


def _lines_schema(source: Source) -> str:
    fields = ", ".join(f"{f.name}__is_string boolean, {f.name}__text string" for f in source.fields)
    return f"file string, record string, read_error string, is_object boolean, duplicate_key boolean, {fields}"


def _tokenizer(source: Source):
    """A function for `mapInArrow`: Arrow batches of lines in, tokenized batches out (DuckDB)."""
    from .duckdb import tokenize_sql

    sql = tokenize_sql(source, "batch", read_error="read_error")

    def tokenize(batches):
        import duckdb
        import pyarrow as pa

        con = duckdb.connect(config={"threads": 1})
        for batch in batches:
            con.register("batch", pa.Table.from_batches([batch]))
            yield from con.execute(sql).fetch_record_batch()
            con.unregister("batch")

    return tokenize
