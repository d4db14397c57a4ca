"""Engines run the same rules: DuckDB embedded, Spark at scale."""

from contextlib import contextmanager

ENGINES = ("duckdb", "spark")


class EngineUnavailable(Exception):
    """The engine cannot start on this machine; the message says why in one sentence."""


@contextmanager
def make_engine(name: str, spill, **options):
    """An engine for one run (spilling to the local folder `spill`), closed afterwards."""
    if name == "duckdb":
        from .duckdb import DuckDBEngine as engine_class
    elif name == "spark":
        from .spark import SparkEngine as engine_class
    else:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {name!r}")
    engine = engine_class(spill, **options)
    try:
        yield engine
    finally:
        engine.close()
