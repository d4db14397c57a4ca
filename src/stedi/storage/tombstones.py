"""Tombstones: salted hashes of erased customers' emails and device serials.

They live in the warehouse's private state, never the values themselves, and filter every
landing file on its way in, so an erased customer cannot come back with an old file.
"""

import gzip
import hashlib
import json
import re
from contextlib import nullcontext

from . import files, text
from .warehouse import Warehouse

# The field of each source that says whose line it is.
IDENTITY = {"customer": "email", "accelerometer": "user", "step_trainer": "serialnumber"}
TOKENS = re.compile(rb"[\w.+\-@]+")
SEARCH_BLOCK = 1 << 24  # bytes `Tombstones.may_mention` searches at a time


class Tombstones:
    """Salted hashes of erased emails and device serials, kept in the warehouse's private state."""

    def __init__(self, wh: Warehouse):
        self.path = wh.path("_stedi", "erased")
        self.salt = wh.salt()
        self.hashes = set(files.read_bytes(self.path).decode().split()) if files.exists(self.path) else set()

    def _hash(self, value: str | bytes) -> str:
        data = value.encode() if isinstance(value, str) else value
        return hashlib.sha256(self.salt.encode() + data).hexdigest()

    def add(self, values: list[str]) -> None:
        """Tombstone `values`, in any case (an email is one address whatever its case)."""
        self.hashes |= {self._hash(v.lower()) for v in values}
        files.write_bytes(self.path, "".join(f"{h}\n" for h in sorted(self.hashes)).encode())

    def erased(self, source: str, line: bytes) -> bool:
        """Whether `line` of `source` is about an erased customer."""
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            values = [v for k, v in record.items() if k.lower() == IDENTITY[source] and isinstance(v, str)]
        else:  # not a JSON object (it would be quarantined): look for an erased value anywhere in it
            values = TOKENS.findall(line)
        # (tombstones made before they were case-insensitive hold the value as it was written)
        return any(self._hash(v.lower()) in self.hashes or self._hash(v) in self.hashes for v in values)

    def may_mention(self, location: str, values: list[str]) -> bool:
        """Whether the file may hold a line about one of `values`: it holds one of them, in any
        case, or bytes a plain search cannot rule out (an escape, a character beyond ASCII, not text).
        A file it rules out need not be read line by line."""
        needles = [value.lower().encode() for value in values]
        overlap = max(map(len, needles), default=1) - 1
        try:
            with text.open_text(location) as (stream, _):
                tail = b""
                while block := stream.read(SEARCH_BLOCK):
                    if b"\\" in block or not block.isascii():
                        return True
                    searched = tail + block.lower()
                    if any(needle in searched for needle in needles):
                        return True
                    tail = searched[max(0, len(searched) - overlap):]
        except text.NotText:
            return True
        return False

    def copy(self, source: str, src: str, dst: str) -> int:
        """Copy `src` to `dst` (whole, or not at all) without the erased lines, gzip-compressed if
        `src` is; return how many were left out. A file that is not text is copied as it is."""
        removed = 0
        try:
            with text.open_text(src) as (reader, compressed), files.writer(dst) as out:
                # mtime 0: the same lines make the same bytes, which ingest tells apart by content
                with gzip.GzipFile("", "wb", 6, out, mtime=0) if compressed else nullcontext(out) as writer:
                    for line in reader:
                        if self.hashes and line.strip() and self.erased(source, line.strip()):
                            removed += 1
                        else:
                            writer.write(line)
        except text.NotText:
            files.copy(src, dst)
            return 0
        return removed
