"""Landing files as text: gzip-compressed or not (told by their first bytes, whatever their name),
their lines read in bounded memory however long, and the files that cannot be read as text at all.
"""

import codecs
import gzip
import io
import zlib
from contextlib import contextmanager

from . import files

GZIP_MAGIC = b"\x1f\x8b"
# A file whose first bytes hold a NUL byte and are not UTF-8 is binary, not text (git looks as far).
SNIFF_BYTES = 8000


class NotText(Exception):
    """The file cannot be read as text; the message says why."""


@contextmanager
def open_text(location: str):
    """(the file's bytes as a binary stream, decompressed when it is gzip; whether it is gzip).
    Raises NotText, here or while the stream is read, for a binary file or a broken gzip stream."""
    with files.open_file(location) as raw:
        compressed = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
        raw.seek(0)
        stream = io.BufferedReader(gzip.GzipFile(fileobj=raw, mode="rb"), 1 << 20) if compressed else raw
        try:
            head = _head(stream)
            if b"\0" in head and not _is_utf8(head):
                raise NotText("not a text file (it holds NUL bytes and is not UTF-8)")
            yield stream, compressed
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            if not compressed:
                raise
            raise NotText(f"broken gzip stream ({error})") from None


def _head(stream) -> bytes:
    """The first bytes of `stream`, left unread."""
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    return head


def _is_utf8(head: bytes) -> bool:
    """Whether `head` is UTF-8, but for a character its end may cut."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return False
    return True


def check(location: str) -> bool:
    """Whether the file is gzip; raises NotText when it cannot be read as text. Reads a
    compressed file whole (a broken stream shows only at its end), the first bytes of others."""
    with open_text(location) as (stream, compressed):
        if compressed:
            while stream.read(1 << 20):
                pass
        return compressed


def lines(stream, max_bytes: int, head_bytes: int):
    """(line, too long) for each non-empty line of `stream`: a line ends at LF, a CR before it and
    a byte order mark starting the file are dropped. A line longer than `max_bytes` comes as its
    first `head_bytes` (at least), the rest skipped unbuffered."""
    limit = max(max_bytes + 2, head_bytes) + len(codecs.BOM_UTF8)  # room for its CRLF and a BOM
    first = True
    while line := stream.readline(limit):
        if first:
            line, first = line.removeprefix(codecs.BOM_UTF8), False
        if not line.endswith(b"\n") and len(line) >= limit - len(codecs.BOM_UTF8):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield line, True
            continue
        line = line.removesuffix(b"\n").removesuffix(b"\r")
        if line:
            yield line, len(line) > max_bytes
