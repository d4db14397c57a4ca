"""Tombstones: salted hashes of erased customers' emails and device serials.

They live in the warehouse's private state, never the values themselves, and filter every
landing file on its way in, so an erased customer cannot come back with an old file.
"""

import gzip
import hashlib
import io
import json
import re
from contextlib import nullcontext

from ..contract import SOURCES
from . import files, text
from .warehouse import Warehouse

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

    def holds(self, value: str) -> bool:
        """Whether `value` (in any case) was tombstoned."""
        return self._hash(value.lower()) in self.hashes

    def erased(self, source: str, line: bytes) -> bool:
        """Whether `line` of `source` is about an erased customer."""
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            values = [v for k, v in record.items() if k.lower() == SOURCES[source].identity and isinstance(v, str)]
        else:  # not a JSON object (it would be quarantined): look for an erased value anywhere in it
            values = TOKENS.findall(line)
        # (tombstones made before they were case-insensitive hold the value as it was written)
        return any(self._hash(v.lower()) in self.hashes or self._hash(v) in self.hashes for v in values)

    def may_mention(self, location: str, values: list[str]) -> bool:
        """Whether the file may hold a line about one of `values` (see `_may_mention`). A file
        it rules out need not be read line by line."""
        needles = _needles(values)
        overlap = max(map(len, needles), default=1) - 1
        try:
            with text.open_text(location) as (stream, _):
                tail = b""
                while block := stream.read(SEARCH_BLOCK):
                    searched = tail + block
                    if _may_mention(searched, needles):
                        return True
                    tail = searched[max(0, len(searched) - overlap):]
        except text.NotText:
            return True
        return False

    def copy(self, source: str, src: str, dst: str, mentioning: list[str] | None = None) -> int:
        """Copy `src` to `dst` (whole, or not at all) without the erased lines, gzip-compressed if
        `src` is; return how many were left out. A file that is not text is copied as it is. With
        `mentioning`, the values just tombstoned, only the lines of blocks that may mention one of
        them (see `_may_mention`) are checked: the landing zone holds no line erased before."""
        needles = None if mentioning is None else _needles(mentioning)
        removed = 0
        try:
            with text.open_text(src) as (reader, compressed), files.writer(dst) as out:
                # mtime 0: the same lines make the same bytes, which ingest tells apart by content
                with gzip.GzipFile("", "wb", 6, out, mtime=0) if compressed else nullcontext(out) as writer:
                    rest = b""
                    while block := reader.read(SEARCH_BLOCK):
                        whole = rest + block
                        rest_starts = whole.rfind(b"\n") + 1
                        lines, rest = whole[:rest_starts], whole[rest_starts:]
                        if needles is not None and not _may_mention(lines, needles):
                            writer.write(lines)
                            continue
                        removed += self._copy_lines(source, io.BytesIO(lines), writer, needles)
                    removed += self._copy_lines(source, [rest] if rest else [], writer, needles)
        except text.NotText:
            files.copy(src, dst)
            return 0
        return removed

    def _copy_lines(self, source: str, lines, writer, needles: list[bytes] | None) -> int:
        """Write the `lines` that are not erased (with `needles`, checking only those that may
        mention one); return how many were."""
        removed = 0
        for line in lines:
            if (self.hashes and line.strip() and (needles is None or _may_mention(line, needles))
                    and self.erased(source, line.strip())):
                removed += 1
            else:
                writer.write(line)
        return removed


def _needles(values: list[str]) -> list[bytes]:
    return [value.lower().encode() for value in values]


def _may_mention(data: bytes, needles: list[bytes]) -> bool:
    """Whether `data` may mention one of `needles` (lower-cased values): it holds one, in any case,
    or bytes a plain search cannot rule out (an escape, a character beyond ASCII)."""
    if b"\\" in data or not data.isascii():
        return True
    lowered = data.lower()
    return any(needle in lowered for needle in needles)
