"""The floor of a `stedi run`: the project's own table rules as a plain script on one engine.

Each source's landing JSON (LANDING_DIR/<source>/landing/*.json, as `stedi generate` writes it) is
read into typed Parquet the way a careful user's script would: keys matched case-insensitively (the
landing contract does; generated files spell them several ways), a line dropped when it is not a
JSON object, lacks a required field or holds a value of the wrong JSON kind (a string where a
number goes). Then the engine writes every table of `stedi.schema` by its
rule, in build order, as Parquet files. Left out: the strict line-by-line validation (duplicate keys,
integers written as decimals, encodings) and the quarantine, Iceberg commits, data-quality checks,
the accounting.

- duckdb: `read_json_objects`, each line's keys lower-cased, values taken by the contract's names;
- spark: `spark.read.text`, each contract key respelled in lower case by a regular expression, then
  `from_json` with the schema (a value of the wrong type makes the line a corrupt record).

    python benchmarks/floor.py [--engine duckdb|spark] LANDING_DIR OUT_DIR

prints each step's seconds and rows, then the total.
"""

import argparse
import time
from pathlib import Path

import pyarrow.parquet as pq

from stedi.contract import SOURCES, STRING, Source
from stedi.engines.duckdb import DuckDBEngine
from stedi.engines.spark import SPARK_TYPES, SparkEngine
from stedi.landing import literal, quote
from stedi.schema import BUILD_ORDER, TABLES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    parser.add_argument("landing", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    started = time.monotonic()
    engine = DuckDBEngine(args.out) if args.engine == "duckdb" else SparkEngine(args.out)
    tables = {}  # name -> (Parquet files, columns)

    def write(name: str, build) -> None:
        step = time.monotonic()
        tables[name] = (build(str(args.out / name)), list(TABLES[name].columns))
        seconds = time.monotonic() - step
        rows = sum(pq.read_metadata(f).num_rows for f in tables[name][0])
        print(f"{name}: {seconds:.2f} s, {rows} rows", flush=True)

    for source in SOURCES.values():
        files = sorted(str(f) for f in (args.landing / source.name / "landing").glob("*.json"))
        write(source.table, lambda out_dir: read_landing(engine, source, files, out_dir))
    for name in BUILD_ORDER:
        inputs = {n: tables[n] for n in TABLES[name].inputs}
        write(name, lambda out_dir: engine.write(TABLES[name].sql, inputs, out_dir,
                                                 {"consent_policy": "any", "salt": "floor"}))
    engine.close()
    print(f"floor: {time.monotonic() - started:.2f} s")


def read_landing(engine, source: Source, files: list[str], out_dir: str) -> list[str]:
    """Write the source's typed rows from `files` as Parquet in `out_dir`; return the files."""
    if engine.name == "duckdb":
        return engine.write(duckdb_landing(source, files), {}, out_dir)
    return spark_landing(engine.spark, source, files, out_dir)


def kept(source: Source, quote=quote) -> str:
    """The condition a typed landing row meets: every required field present (a string non-empty)."""
    return " AND ".join(f"{quote(f.name)} IS NOT NULL" + (f" AND {quote(f.name)} <> ''" if f.kind == STRING else "")
                        for f in source.fields if f.required)


def duckdb_landing(source: Source, files: list[str]) -> str:
    """DuckDB SQL of the source's typed rows: each line's values by its lower-cased keys, as JSON text."""
    values = ", ".join(f"vals[list_position(keys, {literal(name)})] AS {quote(name)}" for name, _ in source.columns)
    raw = (f"SELECT {values} FROM (SELECT list_transform(json_keys(json), k -> lower(k)) AS keys, "
           f"json_extract(json, '$.*')::VARCHAR[] AS vals FROM read_json_objects([{', '.join(map(literal, files))}], "
           f"format='newline_delimited', ignore_errors=true))")
    typed, wrong = [], []
    for name, sql_type in source.columns:
        text = quote(name)
        value = (f"CASE WHEN starts_with({text}, '\"') THEN {text}::JSON->>'$' END" if sql_type == "VARCHAR"
                 else f"TRY_CAST({text} AS {sql_type})")  # a JSON string ('"1"') does not cast to a number
        typed.append(f"{value} AS {text}")
        wrong.append(f"({text} IS NOT NULL AND {text} <> 'null' AND {value} IS NULL)")
    return (f"SELECT * EXCLUDE (wrong_kind) FROM (SELECT {', '.join(typed)}, {' OR '.join(wrong)} AS wrong_kind "
            f"FROM ({raw})) WHERE NOT wrong_kind AND {kept(source)}")


def spark_landing(spark, source: Source, files: list[str], out_dir: str) -> list[str]:
    """Write the source's typed rows as Parquet with PySpark; return the files."""
    from pyspark.sql import functions as F

    line = F.col("value")
    for name, _ in source.columns:  # a key of this name in any case, where a key can start
        line = F.regexp_replace(line, f'([{{,]\\s*)"(?i:{name})"\\s*:', f'$1"{name}":')
    schema = ", ".join(f"`{name}` {SPARK_TYPES[sql_type]}" for name, sql_type in source.columns)
    parsed = spark.read.text(files).select(
        F.from_json(line, f"{schema}, _corrupt_record string", {"columnNameOfCorruptRecord": "_corrupt_record"})
        .alias("row")).select("row.*")
    good = f"_corrupt_record IS NULL AND {kept(source, lambda name: f'`{name}`')}"
    parsed.where(good).drop("_corrupt_record").write.parquet(out_dir)
    return sorted(str(f) for f in Path(out_dir).glob("part-*.parquet"))


if __name__ == "__main__":
    main()
