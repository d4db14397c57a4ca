"""stedi-lakehouse: a privacy-first lakehouse for the STEDI Step Trainer.

The Python API has the shape of the `stedi` command: ``run``, ``query``, ``tables``, ``generate``.
"""

from .generate import generate
from .pipeline import run
from .query import query, tables

__all__ = ["generate", "query", "run", "tables"]
