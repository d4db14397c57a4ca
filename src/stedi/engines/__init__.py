"""Engines run the same rules: DuckDB embedded, Spark at scale."""

import os
import re
from contextlib import contextmanager

ENGINES = ("duckdb", "spark")
MEMORY_LIMIT_VARIABLE = "STEDI_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "1GB"
# A table written clustered by a column holds the rows of each of its values in one of this many
# sets of files, so that recomputing a few values replaces a few files (see `pipeline._build`).
CLUSTERS = 16
_UNITS = {"": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


class EngineUnavailable(Exception):
    """The engine cannot start on this machine; the message says why in one sentence."""


class OutOfResources(Exception):
    """The engine ran out of memory (`disk` False) or of disk space to spill to (`disk` True)."""

    def __init__(self, disk: bool = False):
        super().__init__("out of disk space" if disk else "out of memory")
        self.disk = disk


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


def resolved_memory_limit(given: str | None = None) -> str:
    """The memory an engine may use before it spills to disk: `given`, else $STEDI_MEMORY_LIMIT,
    else 1GB; a size such as 512MB, 4GB or 2GiB."""
    limit = (given or os.environ.get(MEMORY_LIMIT_VARIABLE) or DEFAULT_MEMORY_LIMIT).strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B)?", limit, re.IGNORECASE):
        raise ValueError(f"the memory limit must be a size such as 512MB, 4GB or 2GiB, not {limit!r}")
    return limit


def megabytes(limit: str) -> int:
    """A memory limit (see `resolved_memory_limit`) in MiB, at least 1."""
    number, unit = re.fullmatch(r"([\d.]+)\s*(\w*)", limit).groups()
    return max(1, int(float(number) * _UNITS[unit.upper()]) >> 20)
