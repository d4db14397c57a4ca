"""stedi-lakehouse: a privacy-first lakehouse for the STEDI Step Trainer.

The Python API has the shape of the `stedi` command: ``run``, ``query``, ``tables``, ``history``,
``vacuum``, ``forget``, ``report``, ``generate``.
"""

from .erasure import forget
from .generate import generate
from .maintenance import history, vacuum
from .pipeline import run
from .query import query, tables
from .report import report

__all__ = ["forget", "generate", "history", "query", "report", "run", "tables", "vacuum"]
