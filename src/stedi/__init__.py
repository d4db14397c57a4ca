"""stedi-lakehouse: a privacy-first lakehouse for the STEDI Step Trainer.

The Python API has the shape of the `stedi` command: ``run``, ``query``, ``tables``, ``report``,
``generate``.
"""

from .generate import generate
from .pipeline import run
from .query import query, tables
from .report import report

__all__ = ["generate", "query", "report", "run", "tables"]
