"""stedi-lakehouse: a privacy-first lakehouse for the STEDI Step Trainer.

The Python API has the shape of the `stedi` command: ``run``, ``query``, ``tables``, ``history``,
``vacuum``, ``forget``, ``report``, ``generate``.
Each is imported when first used, so that `stedi --help` loads no engine or table library.
"""

import sys
from importlib import import_module
from types import ModuleType

_API = {"forget": "erasure", "generate": "generate", "history": "maintenance", "query": "query",
        "report": "report", "run": "pipeline", "tables": "query", "vacuum": "maintenance"}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'stedi' has no attribute {name!r}")
    function = getattr(import_module(f".{_API[name]}", __name__), name)
    globals()[name] = function
    return function


class _Package(ModuleType):
    """`stedi.query`, `stedi.generate` and `stedi.report` stay the functions when the modules of
    those names load."""

    def __setattr__(self, name, value):
        if not (name in _API and isinstance(value, ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
