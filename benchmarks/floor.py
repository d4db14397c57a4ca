"""The floor of a `stedi run`: the project's own table rules on its DuckDB engine, and nothing else.

Each source's landing JSON is read by DuckDB's JSON reader (typed columns, bad lines skipped) into
Parquet; then the engine writes every table of `stedi.schema` by its rule, in build order, as Parquet
files. Left out: line-by-line validation and the quarantine, Iceberg commits, data-quality checks,
the accounting. It is the least work a pipeline producing these tables does on this engine (less:
a key spelled otherwise than in the first line of its source's largest file reads as absent).

    python benchmarks/floor.py LANDING_DIR OUT_DIR

prints each step's seconds and rows, then the total.
"""

import json
import sys
import time
from pathlib import Path

from stedi.contract import SOURCES
from stedi.engines.duckdb import DuckDBEngine
from stedi.landing import literal, quote
from stedi.schema import BUILD_ORDER, TABLES


def main(landing: Path, out: Path) -> None:
    started = time.monotonic()
    engine = DuckDBEngine(out)
    tables = {}  # name -> (Parquet files, columns)

    def write(name: str, sql: str, parameters: dict | None = None) -> None:
        step = time.monotonic()
        inputs = {n: tables[n] for n in TABLES[name].inputs}
        files = engine.write(sql, inputs, out / name, parameters)
        seconds = time.monotonic() - step
        tables[name] = (files, list(TABLES[name].columns))
        rows = engine.count(f"SELECT * FROM {name}", {name: tables[name]})
        print(f"{name}: {seconds:.2f} s, {rows} rows", flush=True)

    for source in SOURCES.values():
        files = sorted((landing / source.name / "landing").glob("*.json"), key=lambda f: f.stat().st_size)
        with open(files[-1]) as largest:  # the keys as the files spell them (they match case-insensitively)
            spelled = {key.lower(): key for key in json.loads(largest.readline())}
        keys = [spelled.get(name, name) for name, _ in source.columns]
        columns = ", ".join(f"{literal(key)}: '{sql_type}'" for key, (_, sql_type) in zip(keys, source.columns))
        selected = ", ".join(f"{quote(key)} AS {quote(name)}" for key, (name, _) in zip(keys, source.columns))
        write(source.table, f"SELECT {selected} FROM read_json([{', '.join(map(literal, files))}], "
                            f"format='newline_delimited', columns={{{columns}}}, ignore_errors=true)")
    for name in BUILD_ORDER:
        write(name, TABLES[name].sql, {"consent_policy": "any", "salt": "floor"})
    engine.close()
    print(f"floor: {time.monotonic() - started:.2f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
