"""Where bytes live: a local folder or S3, through fsspec (s3fs for S3).

A location is a string: an absolute local path or ``s3://bucket/key``; nothing outside storage/
decides which. Engines read and write table data at the locations they are handed with their own
S3 support (DuckDB's httpfs, Spark's S3A) and come here only to list what they wrote or to read
the bytes of a landing file in Python.
"""

import hashlib
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .s3 import NO_CREDENTIALS, S3Settings, StorageError, no_bucket, settings

S3 = "s3://"


def is_remote(location: str) -> bool:
    return str(location).startswith(S3)


def normalize(location: str | os.PathLike) -> str:
    """An absolute local path, or ``s3://bucket/prefix`` without a trailing slash."""
    text = str(location)
    if is_remote(text):
        if not text[len(S3):].split("/")[0]:
            raise StorageError(f"{text} names no bucket")
        return text.rstrip("/")
    if "://" in text:
        raise StorageError(f"{text}: only local folders and s3:// locations are supported")
    return str(Path(text).expanduser().resolve())


def join(base: str, *parts: str) -> str:
    return "/".join([str(base).rstrip("/"), *parts])


def basename(location: str) -> str:
    return str(location).rstrip("/").rsplit("/", 1)[-1]


def _s3():
    return _s3_for(settings())


@cache
def _s3_for(s: S3Settings):
    import s3fs

    # Listings are never cached: a run must see the objects another process wrote.
    return s3fs.S3FileSystem(endpoint_url=s.endpoint, client_kwargs={"region_name": s.region},
                             use_listings_cache=False, skip_instance_cache=True)


def _fs(location: str):
    """(file system, its path for `location`)."""
    if is_remote(location):
        return _s3(), str(location)[len(S3):]
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem(), str(location)


def _location(location: str, path: str) -> str:
    """The location of `path`, a path on the file system of `location`."""
    return S3 + path if is_remote(location) else path


@dataclass(frozen=True)
class FileInfo:
    location: str
    size: int
    stamp: str  # changes when the content does: the ETag on S3, the modification time on disk
    modified: float  # seconds since the epoch
    is_file: bool = True


def list_files(folder: str, suffix: str = "", recursive: bool = False, only_files: bool = True) -> list[FileInfo]:
    """The files in `folder` (and its subfolders when `recursive`) ending with `suffix`, by name;
    with `only_files` false, the other entries so named too (folders, broken links)."""
    fs, path = _fs(folder)
    with translated(folder):
        if recursive:
            entries = fs.find(path, detail=True).values()
        else:
            try:
                entries = fs.ls(path, detail=True)
            except FileNotFoundError:
                return []
    found = []
    for entry in entries:
        is_file = entry["type"] == "file"
        if (is_file or not only_files) and entry["name"].endswith(suffix):
            modified = entry.get("mtime") or (entry["LastModified"].timestamp() if "LastModified" in entry else 0)
            stamp = entry.get("ETag") or str(entry.get("mtime"))
            found.append(FileInfo(_location(folder, entry["name"]), entry.get("size") or 0, stamp, modified, is_file))
    return sorted(found, key=lambda f: f.location)


def make_parent(location: str) -> None:
    """Create the folders a writer of `location` needs (on disk; S3 has no folders)."""
    if not is_remote(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)


def exists(location: str) -> bool:
    fs, path = _fs(location)
    with translated(location):
        return fs.isfile(path)


def open_file(location: str, mode: str = "rb"):
    fs, path = _fs(location)
    with translated(location):
        return fs.open(path, mode)


def read_bytes(location: str) -> bytes:
    fs, path = _fs(location)
    with translated(location):
        return fs.cat_file(path)


@contextmanager
def writer(location: str):
    """A binary file to write whole: readers see all of it or none of it (on disk a temporary file
    renamed in place; on S3 an object appears only when its upload completes)."""
    fs, path = _fs(location)
    if is_remote(location):
        with translated(location):
            handle = fs.open(path, "wb")
        try:
            yield handle
        except BaseException:
            handle.discard()
            raise
        with translated(location):
            handle.close()
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path).with_name(f".{Path(path).name}.{uuid.uuid4().hex}.part")
    try:
        with open(tmp, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(location: str, data: bytes) -> None:
    with writer(location) as handle:
        handle.write(data)


def copy(src: str, dst: str) -> None:
    """Copy `src` to `dst` whole (server-side within S3)."""
    if is_remote(src) and is_remote(dst):
        with translated(dst):
            _s3().copy(src[len(S3):], dst[len(S3):])
        return
    with open_file(src) as reader, writer(dst) as out:
        shutil.copyfileobj(reader, out, 1 << 20)


def delete(locations: list[str]) -> None:
    if not locations:
        return
    fs, _ = _fs(locations[0])
    with translated(locations[0]):
        fs.rm([_fs(location)[1] for location in locations])


def delete_tree(folder: str) -> None:
    """Delete `folder` and everything under it, if it exists."""
    fs, path = _fs(folder)
    with translated(folder):
        if fs.exists(path):
            fs.rm(path, recursive=True)


def sha256(location: str) -> str:
    digest = hashlib.sha256()
    with open_file(location) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def translated(location: str):
    """Errors of S3 turned into one sentence (StorageError) naming `location`; local errors pass."""
    if not is_remote(location):
        yield
        return
    import botocore.exceptions

    bucket = location[len(S3):].split("/")[0]
    try:
        yield
    except PermissionError:
        raise StorageError(f"access denied to {location}: the AWS credentials in use may not read or write it") from None
    except FileNotFoundError as error:
        if "bucket" in str(error).lower():
            raise no_bucket(bucket) from None
        raise
    except (botocore.exceptions.EndpointConnectionError, OSError) as error:
        raise StorageError(f"S3 cannot be reached for {location}: {_first_line(error)}") from None
    except botocore.exceptions.NoCredentialsError:
        raise StorageError(NO_CREDENTIALS) from None


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
