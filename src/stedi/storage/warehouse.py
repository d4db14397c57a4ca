"""The warehouse: its root (a local folder or ``s3://bucket/prefix``), the landing zone's raw
files, the salt, scratch space, the one-writer lock.

Layout under the root (the seed's S3 layout): ``<source>/landing/`` the files as received (any
name, at any depth; names starting with ``.`` or ``_`` are hidden, as in Spark and Hive),
``<source>/trusted/``, ``<source>/curated/`` Iceberg tables, ``catalog.db`` the embedded Iceberg
catalog (local warehouses), ``_stedi/`` the project's private state (salt, bookmarks of ingested
files, tombstones, scratch files, lock or lease).
"""

import errno
import fcntl
import json
import os
import re
import secrets
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..contract import SOURCES
from ..schema import LANDING_TABLE
from . import files, lease
from .s3 import StorageError, settings

GLOB_CHARACTERS = re.compile(r"[*?\[\]]")  # engines read landing paths as glob patterns


class WarehouseBusy(Exception):
    """Another run holds the warehouse."""


@dataclass(frozen=True)
class Warehouse:
    root: str

    @classmethod
    def at(cls, location: str | os.PathLike) -> "Warehouse":
        root = files.normalize(location)
        if files.is_remote(root):
            settings()  # no credentials or no region: one sentence now, not a failure midway
        else:
            with _writable(root):
                Path(root, "_stedi").mkdir(parents=True, exist_ok=True)
        return cls(root)

    @property
    def is_remote(self) -> bool:
        return files.is_remote(self.root)

    def path(self, *parts: str) -> str:
        return files.join(self.root, *parts)

    def landing_dir(self, source: str) -> str:
        return self.path(source, "landing")

    def landing(self, source: str) -> tuple[dict[str, str], list[str]]:
        """The files of `source`'s landing zone by name (their path under ``<source>/landing/``),
        and the hidden ones (but the landing table's), which are not read; one listing."""
        files_by_name, hidden = {}, []
        for name, info in _tree(self.landing_dir(source)):
            if not is_hidden(name):
                files_by_name[name] = info.location
            elif not name.startswith(f"{LANDING_TABLE}/"):
                hidden.append(info.location)
        return files_by_name, hidden

    def landing_files(self, source: str) -> dict[str, str]:
        """The files of `source`'s landing zone by name (see `landing`)."""
        return self.landing(source)[0]

    def is_empty(self) -> bool:
        return not any(self.landing_files(source) for source in SOURCES)

    def ingest(self, source_dir: str | os.PathLike, filtered=None) -> tuple[dict[str, list[str]], list[str]]:
        """Copy new landing files from `source_dir/<source>/landing/` in; return their names per
        source, and what could not be read (a sentence each: reported, not fatal).

        `filtered(source, src, local_dst)` writes a file's landing copy without some lines (the
        erasure filter). A file whose landing copy the landing zone already holds is skipped,
        whatever its name; a source file seen before, unchanged (size and modification time, or
        ETag on S3), is not even read.
        """
        source_dir = files.normalize(source_dir)
        listed = {s: files.list_files(files.join(source_dir, s, "landing"), recursive=True, only_files=False)
                  for s in SOURCES}
        if not any(listed.values()) and not any(_is_folder(files.join(source_dir, s, "landing")) for s in SOURCES):
            raise FileNotFoundError(f"{source_dir} has no customer/, accelerometer/ or step_trainer/ landing folder")
        seen_at = self.path("_stedi", "ingested.json")
        seen = json.loads(files.read_bytes(seen_at)) if files.exists(seen_at) else {}
        new, skipped = {}, []
        with tempfile.TemporaryDirectory() as local:
            for source in SOURCES:
                held = {}  # size -> locations; only files of equal size are hashed and compared
                for name, info in _tree(self.landing_dir(source)):
                    if not is_hidden(name):
                        held.setdefault(info.size, []).append(info.location)
                new[source] = []
                source_landing = files.join(source_dir, source, "landing")
                for info in listed[source]:
                    name = _name(source_landing, info.location)
                    if is_hidden(name):
                        skipped.append(f"{info.location} is hidden (a name starting with . or _): not read")
                        continue
                    if not info.is_file:
                        skipped.append(f"{info.location} is not a file")
                        continue
                    stamp = [info.size, info.stamp]
                    if seen.get(info.location) == stamp:
                        continue
                    try:
                        name = self._ingest_file(source, name, info, held, filtered, local)
                    except OSError as error:
                        skipped.append(f"{info.location} cannot be read ({error.strerror or error})")
                        continue
                    if name:
                        new[source].append(name)
                    seen[info.location] = stamp
        files.write_bytes(seen_at, json.dumps(seen).encode())
        return new, skipped

    def _ingest_file(self, source: str, name: str, info: files.FileInfo, held: dict, filtered,
                     local: str) -> str | None:
        """Place the source file `name` (its path under the source's landing folder) in the landing
        zone, at the same path, unless it holds it already; its name there or None."""
        candidate, size = info.location, info.size
        if filtered is not None:
            candidate = os.path.join(local, uuid.uuid4().hex)
            filtered(source, info.location, candidate)
            size = os.path.getsize(candidate)
        name = GLOB_CHARACTERS.sub("-", name)
        target = files.join(self.landing_dir(source), name)
        same_size = held.get(size, [])
        target_exists = files.exists(target)
        # hashed only when there is a file to tell it from
        digest = files.sha256(candidate) if same_size or target_exists else None
        if digest is not None and any(files.sha256(p) == digest for p in same_size):
            return None
        if target_exists:
            folder, _, base = name.rpartition("/")
            stem, dot, suffix = base.partition(".")
            name = f"{folder}{'/' if folder else ''}{stem}-{digest[:12]}{dot}{suffix}"
            target = files.join(self.landing_dir(source), name)
        files.copy(candidate, target)
        held.setdefault(size, []).append(target)
        return name

    def salt(self) -> str:
        """The per-warehouse secret behind pseudonymous keys (STEDI_SALT overrides the stored one)."""
        if os.environ.get("STEDI_SALT"):
            return os.environ["STEDI_SALT"]
        path = self.path("_stedi", "salt")
        if not files.exists(path):
            files.write_bytes(path, secrets.token_hex(32).encode())
            if not self.is_remote:
                os.chmod(path, 0o600)
        return files.read_bytes(path).decode().strip()

    @contextmanager
    def scratch(self):
        """A private folder of the warehouse for one run's intermediate files, removed afterwards."""
        folder = self.path("_stedi", "scratch", uuid.uuid4().hex)
        try:
            yield folder
        finally:
            files.delete_tree(folder)

    @contextmanager
    def spill(self):
        """A local folder where an engine may spill to disk: in the warehouse, or a temporary one
        when the warehouse is remote."""
        if self.is_remote:
            with tempfile.TemporaryDirectory(prefix="stedi-") as folder:
                yield Path(folder)
            return
        with self.scratch() as folder:
            Path(folder).mkdir(parents=True)  # DuckDB makes its spill folder, not the folders above it
            yield Path(folder)

    @contextmanager
    def lock(self):
        """Hold the warehouse for one writer; a second one fails at once with WarehouseBusy."""
        busy = f"another stedi run is writing to {self.root}; try again when it ends"
        if self.is_remote:
            try:
                with lease.lease(self.path("_stedi", "lease")):
                    yield
            except lease.Busy as error:
                raise WarehouseBusy(f"{busy} (its lease expires {error})") from None
            return
        with _writable(self.root):
            handle = open(self.path("_stedi", "lock"), "w")
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WarehouseBusy(busy) from None
            yield


@contextmanager
def _writable(root: str):
    """A local warehouse the user may not write (permissions, a read-only file system) as one sentence."""
    try:
        yield
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise StorageError(f"cannot write to {root}: {error.strerror.lower()}") from None


def is_hidden(name: str) -> bool:
    """Whether the path `name` has a part starting with . or _ (hidden, as Spark and Hive see it)."""
    return any(part[:1] in "._" for part in name.split("/"))


def _name(folder: str, location: str) -> str:
    """The path of `location` under `folder`."""
    return location[len(folder.rstrip("/")) + 1:]


def _tree(folder: str) -> list[tuple[str, files.FileInfo]]:
    """(path under `folder`, what it is) of every file under `folder`, at any depth."""
    return [(_name(folder, info.location), info) for info in files.list_files(folder, recursive=True)]


def _is_folder(location: str) -> bool:
    """A local folder; on S3, where folders exist only as key prefixes, never."""
    return not files.is_remote(location) and Path(location).is_dir()
