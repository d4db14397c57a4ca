"""Tombstones: salted hashes of erased customers' emails and device serials.

They live in the warehouse's private state, never the values themselves, and filter every
landing file on its way in, so an erased customer cannot come back with an old file.
"""

import hashlib
import json
import os
import re
import uuid
from pathlib import Path

from .warehouse import Warehouse

# The field of each source that says whose line it is.
IDENTITY = {"customer": "email", "accelerometer": "user", "step_trainer": "serialnumber"}
TOKENS = re.compile(rb"[\w.+\-@]+")


class Tombstones:
    """Salted hashes of erased emails and device serials, kept in the warehouse's private state."""

    def __init__(self, wh: Warehouse):
        self.path = wh.root / "_stedi" / "erased"
        self.salt = wh.salt()
        self.hashes = set(self.path.read_text().split()) if self.path.exists() else set()

    def _hash(self, value: str | bytes) -> str:
        data = value.encode() if isinstance(value, str) else value
        return hashlib.sha256(self.salt.encode() + data).hexdigest()

    def add(self, values: list[str]) -> None:
        self.hashes |= {self._hash(v) for v in values}
        tmp = self.path.with_suffix(f".{uuid.uuid4().hex}")
        tmp.write_text("".join(f"{h}\n" for h in sorted(self.hashes)))
        os.replace(tmp, self.path)

    def erased(self, source: str, line: bytes) -> bool:
        """Whether `line` of `source` is about an erased customer."""
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            values = [v for k, v in record.items() if k.lower() == IDENTITY[source] and isinstance(v, str)]
            return any(self._hash(v) in self.hashes for v in values)
        # Not a JSON object (it would be quarantined): look for an erased value anywhere in it.
        return any(self._hash(token) in self.hashes for token in TOKENS.findall(line))

    def copy(self, source: str, src: Path, dst: Path) -> int:
        """Copy `src` to `dst` without the erased lines; return how many were left out."""
        removed = 0
        with open(src, "rb") as reader, open(dst, "wb") as writer:
            for line in reader:
                if self.hashes and line.strip() and self.erased(source, line.strip()):
                    removed += 1
                else:
                    writer.write(line)
        return removed
