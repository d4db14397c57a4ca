"""The warehouse on disk: its root, the landing zone's raw files, the salt, scratch space, the lock.

Layout under the root (the seed's S3 layout): ``<source>/landing/*.json`` as received,
``<source>/trusted/``, ``<source>/curated/`` Iceberg tables, ``catalog.db`` the Iceberg catalog,
``_stedi/`` the project's private state (salt, scratch files, lock).
"""

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..contract import SOURCES

GLOB_CHARACTERS = re.compile(r"[*?\[\]]")  # engines read landing paths as glob patterns


class WarehouseBusy(Exception):
    """Another run holds the warehouse."""


@dataclass(frozen=True)
class Warehouse:
    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike) -> "Warehouse":
        if "://" in str(path):
            raise ValueError(f"{path} is a URL; a warehouse is a folder for now (object storage is not supported yet)")
        root = Path(path).expanduser().resolve()
        (root / "_stedi").mkdir(parents=True, exist_ok=True)
        return cls(root)

    def landing_dir(self, source: str) -> Path:
        return self.root / source / "landing"

    def landing_files(self, source: str) -> list[Path]:
        folder = self.landing_dir(source)
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    def is_empty(self) -> bool:
        return not any(self.landing_files(source) for source in SOURCES)

    def ingest(self, source_dir: str | os.PathLike, copy=None) -> tuple[dict[str, list[str]], list[str]]:
        """Copy new landing files from `source_dir/<source>/landing/` in; return their names per
        source, and what could not be read (a sentence each: reported, not fatal).

        `copy(source, src, dst)` writes a file's landing copy (the erasure filter passes its own).
        A file whose landing copy the landing zone already holds is skipped, whatever its name;
        a source file seen before, unchanged (size and modification time), is not even read.
        """
        source_dir = Path(source_dir)
        if not any((source_dir / s / "landing").is_dir() for s in SOURCES):
            raise FileNotFoundError(f"{source_dir} has no customer/, accelerometer/ or step_trainer/ landing folder")
        seen_path = self.root / "_stedi" / "ingested.json"
        seen = json.loads(seen_path.read_text()) if seen_path.exists() else {}
        new, skipped = {}, []
        for source in SOURCES:
            held = {}  # size -> paths; only files of equal size are hashed and compared
            for path in self.landing_files(source):
                held.setdefault(path.stat().st_size, []).append(path)
            new[source] = []
            for path in sorted((source_dir / source / "landing").glob("*.json")):
                if not path.is_file():
                    skipped.append(f"{path} is not a file")
                    continue
                stat = path.stat()
                key, stamp = str(path.resolve()), [stat.st_size, stat.st_mtime_ns]
                if seen.get(key) == stamp:
                    continue
                candidate = path
                try:
                    if copy is not None:
                        candidate = self.landing_dir(source) / f".{path.name}.{uuid.uuid4().hex}.part"
                        candidate.parent.mkdir(parents=True, exist_ok=True)
                        copy(source, path, candidate)
                    size = candidate.stat().st_size
                    same_size = held.get(size, [])
                    target = self.landing_dir(source) / GLOB_CHARACTERS.sub("_", path.name)
                    # hashed only when there is a file to tell it from
                    digest = _sha256(candidate) if same_size or target.exists() else None
                    if digest is None or not any(_sha256(p) == digest for p in same_size):
                        if target.exists():
                            target = target.with_name(f"{path.stem}-{digest[:12]}{path.suffix}")
                        _place(candidate, target, move=candidate != path)
                        held.setdefault(size, []).append(target)
                        new[source].append(target.name)
                    elif candidate != path:
                        candidate.unlink()
                except OSError as error:
                    skipped.append(f"{path} cannot be read ({error.strerror or error})")
                    if candidate != path:
                        candidate.unlink(missing_ok=True)
                    continue
                seen[key] = stamp
        tmp = seen_path.with_suffix(f".{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(seen))
        os.replace(tmp, seen_path)
        return new, skipped

    def salt(self) -> str:
        """The per-warehouse secret behind pseudonymous keys (STEDI_SALT overrides the stored one)."""
        if os.environ.get("STEDI_SALT"):
            return os.environ["STEDI_SALT"]
        path = self.root / "_stedi" / "salt"
        if not path.exists():
            tmp = path.with_suffix(f".{uuid.uuid4().hex}")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            os.replace(tmp, path)
        return path.read_text().strip()

    @contextmanager
    def scratch(self):
        """A private folder for one run's intermediate files, removed afterwards."""
        folder = self.root / "_stedi" / "scratch" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def lock(self):
        """Hold the warehouse for one writer; a second one fails at once with WarehouseBusy."""
        with open(self.root / "_stedi" / "lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WarehouseBusy(f"another stedi run is writing to {self.root}; try again when it ends") from None
            yield


def _place(src: Path, target: Path, move: bool) -> None:
    """Put `src` at `target` atomically: readers see the whole file or none of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.replace(src, target)
        return
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
