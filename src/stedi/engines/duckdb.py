"""The embedded engine: DuckDB reads landing JSON and runs every rule, out of core.

Only this module knows DuckDB. It turns landing lines into the relation ``landing.py`` validates,
and writes the result of any rule as Parquet files for the catalog to commit.
"""

import codecs
import glob
import re
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ..contract import Source
from ..landing import KEPT_CHARACTERS, NOT_UTF8, literal, quote, too_long, validated_sql
from ..storage import files as storage
from ..storage import text
from ..storage.s3 import StorageError, settings
from . import CLUSTERS, OutOfResources, megabytes, resolved_memory_limit
from .common import Inputs

INVALID_ENCODING = "INVALID ENCODING"  # DuckDB's error type for a line that is not UTF-8
MAX_LINE_BYTES = 16 << 20  # the longest line DuckDB's reader reads; files with longer lines are read in Python
DELIMITER = "\x1e\x1f\x1e\x1f"  # the line reader's column delimiter: no valid JSON line holds it
LONE_CR = re.compile(rb"\r(?!\n|\Z)")  # a CR that ends a chunk is tested again with what follows
# Parquet row groups: DuckDB's default (122,880 rows) makes scans of the big tables slower, a million
# rows per group (buffered per writing thread) takes the memory the joins writing them need.
ROW_GROUP_ROWS = 500_000
# ...and at most this many bytes: a writing thread holds its row group in memory, which cannot spill
# (500,000 wide rows of machine_learning_curated took more than a 1 GB limit leaves at 30 M readings).
ROW_GROUP_BYTES = 32 << 20
NEGATIVE_ZEROS = "stedi_negative_zeros"  # the columns `DuckDBEngine.write` splits files by
CLUSTER = "stedi_cluster"


def connect(spill: Path | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A connection bounded in memory (see `resolved_memory_limit`), spilling to the local folder
    `spill` when it must."""
    limit = megabytes(resolved_memory_limit(memory_limit))
    config = {"memory_limit": f"{limit}MiB", "preserve_insertion_order": False}
    if spill is not None:
        config["temp_directory"] = str(spill / "duckdb.tmp")
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = false")  # it would write into the command's output
    return con


def reach(con: duckdb.DuckDBPyConnection, locations) -> None:
    """Let `con` read and write the S3 locations among `locations` (httpfs, with the S3 settings
    of the standard AWS configuration as a temporary secret); once per connection."""
    if not any(storage.is_remote(location) for location in locations):
        return
    if con.execute("SELECT COUNT(*) FROM duckdb_secrets() WHERE name = 'stedi_s3'").fetchone()[0]:
        return
    try:
        import duckdb_extension_httpfs
    except ImportError:
        raise StorageError("reading S3 needs the aws extra: pip install 'stedi-lakehouse[aws]'") from None
    (extension,) = glob.glob(f"{duckdb_extension_httpfs.__path__[0]}/extensions/*/httpfs.duckdb_extension")
    con.execute(f"LOAD {literal(extension)}")
    s3 = settings()
    options = {"REGION": s3.region, "KEY_ID": s3.access_key_id, "SECRET": s3.secret_access_key,
               "SESSION_TOKEN": s3.session_token, "ENDPOINT": s3.host}
    listed = ", ".join(f"{key} {literal(value)}" for key, value in options.items() if value)
    style = "" if s3.endpoint is None else f", URL_STYLE 'path', USE_SSL {str(s3.use_ssl).lower()}"
    con.execute(f"CREATE TEMPORARY SECRET stedi_s3 (TYPE s3, {listed}{style})")


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, spill: Path, memory_limit: str | None = None):
        self.con = connect(spill, memory_limit)

    def close(self) -> None:
        self.con.close()

    def parse_landing(self, source: Source, files: list[str], out_dir: str,
                      max_line_bytes: int) -> tuple[list[str], dict[str, str]]:
        """Read and validate every line of `files`; write (file, record, reason, typed columns).
        Return the files written, and why each file that is not text is not.

        DuckDB reads the lines, but for the files it would misread (see `_reads_natively`) and the
        lines that are not UTF-8, which it can only keep cut: Python reads those, whole (all the
        lines of a file when DuckDB cannot read the file at all). A file that is not text is one
        quarantined line.
        """
        if not files:
            empty = f"SELECT * FROM ({validated_sql(source, _empty_lines(source))}) WHERE false"
            return self.write(empty, {}, out_dir), {}
        reach(self.con, files)
        longest = min(max_line_bytes, MAX_LINE_BYTES)
        scanned, whole, not_text, not_utf8, read = [], [], {}, [], []
        for path in files:
            try:
                (scanned if _reads_natively(path, longest) else whole).append(path)
            except text.NotText as error:
                not_text[path] = str(error)
        scan = f"landing_{source.name}"
        try:
            if scanned:
                read = self.write(validated_sql(source, f"({_lines_sql(source, scanned, scan)})"), {},
                                  storage.join(out_dir, "lines"))
                not_utf8 = self._files_not_utf8(scan)
        except duckdb.InvalidInputException:  # DuckDB (1.5.5) fails on some long lines that are not UTF-8
            storage.delete_tree(storage.join(out_dir, "lines"))
            whole += [f for f in scanned if not _is_utf8(f)]
            scanned, scan = [f for f in scanned if f not in whole], f"{scan}_utf8"
            if scanned:
                read = self.write(validated_sql(source, f"({_lines_sql(source, scanned, scan)})"), {},
                                  storage.join(out_dir, "lines"))
        if read:
            read += self.write(validated_sql(source, f"({_rejects_sql(source, scan)})"), {},
                               storage.join(out_dir, "rejects"))
        if whole or not_text:
            read += self._write_python_lines(source, python_lines(whole, max_line_bytes, not_text), "true",
                                             storage.join(out_dir, "whole"))
        if not_utf8:  # DuckDB read their other lines
            read += self._write_python_lines(source, python_lines(not_utf8, max_line_bytes, {}),
                                             "read_error IS NOT NULL", storage.join(out_dir, "not_utf8"))
        return read, not_text

    def _write_python_lines(self, source: Source, lines, condition: str, out_dir: str) -> list[str]:
        """Validate the lines Python read (see `python_lines`) that meet `condition`; write them."""
        name = f"python_{storage.basename(out_dir)}"
        self.con.register(name, lines)
        tokenized = tokenize_sql(source, f"(SELECT * FROM {name} WHERE {condition})", read_error="read_error")
        return self.write(validated_sql(source, f"({tokenized})"), {}, out_dir)

    def _files_not_utf8(self, scan: str) -> list[str]:
        """The files in which the scan `scan` found lines that are not UTF-8."""
        return [path for (path,) in self.con.execute(
            f"SELECT DISTINCT s.file_path FROM {scan}_rejects AS e JOIN {scan}_scans AS s USING (scan_id, file_id) "
            f"WHERE e.error_type = '{INVALID_ENCODING}'").fetchall()]

    def write(self, sql: str, inputs: Inputs, out_dir: str, parameters: dict | None = None,
              cluster_by: str | None = None, joins_as_written: bool = False) -> list[str]:
        """Run `sql` over `inputs` (table name -> Parquet files) and write its rows as Parquet files
        in the new folder `out_dir`; return their locations. With `cluster_by`, the rows of each
        value of that column are in one of `CLUSTERS` sets of files (by a hash of the value).
        With `joins_as_written`, each join hashes its right side, as the query is written, and not
        the side DuckDB estimates smaller: over Parquet files it estimates that a join of a whole
        table with a few changed rows matches every row of the table, and hashed the table.

        DuckDB's Parquet writer (1.5.5) keeps one dictionary entry for -0.0 and 0.0, so all the
        zeros of a dictionary-encoded column chunk get the sign of the first one
        (https://github.com/duckdb/duckdb/issues/25781). Rows are therefore written to separate
        files by which of their floating-point columns hold -0.0: no column chunk holds both zeros.
        """
        self._bind(inputs, parameters)
        reach(self.con, [out_dir])
        storage.make_parent(out_dir)
        relation = self.con.sql(sql)
        floats = [quote(c) for c, t in zip(relation.columns, relation.types) if str(t) in ("DOUBLE", "FLOAT")]
        splits = {}  # column the files are split by (not written) -> its value
        if floats:
            splits[NEGATIVE_ZEROS] = "concat({})".format(", ".join(
                f"CASE WHEN signbit({c}) AND {c} = 0 THEN '-' ELSE '+' END" for c in floats))
        if cluster_by:
            splits[CLUSTER] = f"hash({quote(cluster_by)}) % {CLUSTERS}"
        if joins_as_written:
            self.con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        try:
            if not splits:
                return self._copy(sql, out_dir, "PER_THREAD_OUTPUT true")
            values = ", ".join(f"{value} AS {name}" for name, value in splits.items())
            written = self._copy(f"SELECT *, {values} FROM ({sql})", out_dir,
                                 f"PARTITION_BY ({', '.join(splits)}), HIVE_FILE_PATTERN false")
            # A partitioned COPY of no rows writes no file; the table's commit and checks need one, empty.
            return written or self._copy(f"SELECT * FROM ({sql}) LIMIT 0", out_dir, "PER_THREAD_OUTPUT true")
        finally:
            if joins_as_written:
                self.con.execute("RESET disabled_optimizers")

    def files_where(self, files: list[str], condition: str, inputs: Inputs) -> list[str]:
        """The files of `files` holding a row that meets `condition` (over their columns and `inputs`)."""
        if not files:
            return []
        self._bind(inputs, None)
        reach(self.con, files)
        listed = ", ".join(map(literal, files))
        with _bounded():
            return sorted(file for (file,) in self.con.execute(
                f"SELECT DISTINCT filename FROM read_parquet([{listed}], filename=true) WHERE {condition}").fetchall())

    def _copy(self, sql: str, out_dir: str, split: str) -> list[str]:
        """Write the rows of `sql` as Parquet files in `out_dir`, split into files by `split`."""
        with _bounded():
            (_, written), = self.con.execute(
                f"COPY ({sql}) TO {literal(out_dir)} (FORMAT parquet, {split}, "
                f"FILENAME_PATTERN 'part-{{uuid}}', ROW_GROUP_SIZE {ROW_GROUP_ROWS}, "
                f"ROW_GROUP_SIZE_BYTES {ROW_GROUP_BYTES}, RETURN_FILES true)"
            ).fetchall()
        return sorted(written)

    def count(self, sql: str, inputs: Inputs, parameters: dict | None = None) -> int:
        """How many rows `sql` returns over `inputs`."""
        self._bind(inputs, parameters)
        with _bounded():
            return self.con.execute(f"SELECT COUNT(*) FROM ({sql})").fetchone()[0]

    def _bind(self, inputs: Inputs, parameters: dict | None) -> None:
        reach(self.con, [location for files, _ in inputs.values() for location in files])
        for name, (files, columns) in inputs.items():
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {_read_parquet(files, columns)}")
        if parameters is not None:
            self.con.execute("CREATE OR REPLACE TEMP TABLE run_parameters (consent_policy VARCHAR, salt VARCHAR)")
            self.con.execute("INSERT INTO run_parameters VALUES ($consent_policy, $salt)", parameters)


@contextmanager
def _bounded():
    """DuckDB running out of memory, or of disk to spill to, as `OutOfResources`."""
    try:
        yield
    except duckdb.OutOfMemoryException as error:
        raise OutOfResources(disk="max_temp_directory_size" in str(error)) from error  # the spill folder is full
    except duckdb.IOException as error:
        if "No space left on device" not in str(error):
            raise
        raise OutOfResources(disk=True) from error


def _read_parquet(files: list[str], columns: list[tuple[str, str]]) -> str:
    if not files:
        return "SELECT " + ", ".join(f"NULL::{t} AS {quote(n)}" for n, t in columns) + " WHERE false"
    # DuckDB estimates a scan's rows from its first file: a table's files come largest first, which
    # keeps the estimate from being far too low when it has small appended files (see `data_files`).
    listed = ", ".join(map(literal, files))
    return f"SELECT * FROM read_parquet([{listed}])"


def _empty_lines(source: Source) -> str:
    fields = ", ".join(f"NULL::BOOLEAN AS {f.name}__is_string, NULL::VARCHAR AS {f.name}__text" for f in source.fields)
    return (
        "(SELECT NULL::VARCHAR AS file, NULL::VARCHAR AS record, NULL::VARCHAR AS read_error, "
        f"NULL::BOOLEAN AS is_object, NULL::BOOLEAN AS duplicate_key, {fields} WHERE false)"
    )


def _lines_sql(source: Source, files: list[str], scan: str) -> str:
    """One row per landing line of `files`, in the shape `landing.validated_sql` takes.

    Lines are read as text (control characters no JSON line holds as delimiter, no quoting, LF or
    CRLF ending a line), so a line that is not JSON still arrives whole; lines DuckDB cannot read
    (bad UTF-8) are recorded in its rejects table (see `_rejects_sql`).
    """
    listed = ", ".join(map(literal, files))
    read = (
        f"read_csv([{listed}], columns={{'line': 'VARCHAR'}}, header=false, delim='{DELIMITER}', quote='', "
        f"escape='', auto_detect=false, new_line='\\n', strict_mode=false, max_line_size={MAX_LINE_BYTES + 8}, buffer_size={2 * MAX_LINE_BYTES}, "
        f"filename=true, ignore_errors=true, store_rejects=true, "
        f"rejects_table='{scan}_rejects', rejects_scan='{scan}_scans')"
    )
    return tokenize_sql(source, f"(SELECT filename AS file, line AS record FROM {read} WHERE line IS NOT NULL)")


def tokenize_sql(source: Source, lines: str, read_error: str = "NULL::VARCHAR") -> str:
    """Split each JSON line of `lines` (file, record) into the contract's fields, keys matched
    case-insensitively. The Spark engine runs this too, so both engines see lines alike."""
    # Values are minified JSON text: a string starts with a quote, a null is `null`; a string
    # without a backslash holds no escape, so its text is what the quotes enclose.
    fields = ",\n".join(
        f"  left({v}, 1) = '\"' AS {f.name}__is_string, "
        f"CASE WHEN {v} = 'null' THEN NULL WHEN left({v}, 1) <> '\"' THEN CAST({v} AS VARCHAR) "
        f"WHEN contains({v}, '\\') THEN {v} ->> '$' "
        f"ELSE substring({v}, 2, length({v}) - 2) END AS {f.name}__text"
        for f in source.fields
        for v in [f"v.{quote(f.name)}"]
    )
    # Keys that are the contract's fields in its order (in any case), as landing files send them,
    # are matched by position; others by name, lower-cased.
    names = [f.name for f in source.fields]
    canonical = "[" + ", ".join(names) + "]"
    values = ", ".join(
        f"map_values(fields)[CASE WHEN canonical THEN {i} ELSE list_position(lower_keys, '{name}') END] AS {quote(name)}"
        for i, name in enumerate(names, 1)
    )
    return f"""
WITH mapped AS (
    SELECT *, try(json_transform(record, '"MAP(VARCHAR, JSON)"')) AS fields FROM {lines}
),
keyed AS (
    SELECT *,
           COALESCE(cardinality(fields) = {len(names)} AND lower(map_keys(fields)::VARCHAR) = '{canonical}', false)
               AS canonical,
           -- no map: not JSON, not an object, or an object with a key twice
           CASE WHEN fields IS NOT NULL THEN true
                WHEN json_valid(record) THEN json_type(record) = 'OBJECT'
                ELSE false END AS is_object
    FROM mapped
),
named AS (
    SELECT *, CASE WHEN NOT canonical THEN list_transform(map_keys(fields), k -> lower(k)) END AS lower_keys
    FROM keyed
),
v AS (
    SELECT *,
           CASE WHEN canonical THEN false
                WHEN fields IS NULL THEN is_object
                ELSE list_bool_or(list_transform(lower_keys, (k, i) -> list_position(lower_keys, k) <> i))
           END AS duplicate_key,
           {values}
    FROM named
)
SELECT file, record, {read_error} AS read_error, is_object, duplicate_key,
{fields}
FROM v
"""


def _rejects_sql(source: Source, scan: str) -> str:
    """The lines the scan of `_lines_sql` could not read for a reason other than their encoding
    (those are read by `_python_lines`), once each, as not JSON objects."""
    fields = ", ".join(f"NULL::BOOLEAN AS {f.name}__is_string, NULL::VARCHAR AS {f.name}__text" for f in source.fields)
    return f"""
SELECT s.file_path AS file, e.csv_line AS record, NULL::VARCHAR AS read_error,
       false AS is_object, false AS duplicate_key, {fields}
FROM (SELECT DISTINCT ON (scan_id, file_id, line) * FROM {scan}_rejects WHERE error_type <> '{INVALID_ENCODING}') AS e
JOIN {scan}_scans AS s USING (scan_id, file_id)
"""


def python_lines(paths: list[str], max_line_bytes: int, not_text: dict[str, str], batch_rows: int = 10_000):
    """(file, record, read_error) for each non-empty line of `paths`, read in Python (see
    `text.lines`), and one line for each file of `not_text` (file -> why it is not text). A line
    that is not UTF-8 comes whole, its undecodable bytes replaced by U+FFFD; a line longer than
    `max_line_bytes` comes as its first characters."""
    import pyarrow as pa  # only for the few files DuckDB cannot read: a query starts without it

    schema = pa.schema([("file", pa.string()), ("record", pa.string()), ("read_error", pa.string())])
    longer = too_long(max_line_bytes)

    def batches():
        yield pa.record_batch([list(not_text), [None] * len(not_text), list(not_text.values())], schema=schema)
        for path in paths:
            records, errors = [], []
            with text.open_text(path) as (stream, _):
                for line, is_long in text.lines(stream, max_line_bytes, 4 * KEPT_CHARACTERS):
                    if is_long:
                        records.append(line.decode("utf-8", errors="replace")[:KEPT_CHARACTERS])
                        errors.append(longer)
                        continue
                    try:
                        records.append(line.decode("utf-8"))
                        errors.append(None)
                    except UnicodeDecodeError:
                        records.append(line.decode("utf-8", errors="replace"))
                        errors.append(NOT_UTF8)
                    if len(records) >= batch_rows:
                        yield pa.record_batch([[path] * len(records), records, errors], schema=schema)
                        records, errors = [], []
            yield pa.record_batch([[path] * len(records), records, errors], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _reads_natively(path: str, longest: int, chunk_bytes: int = 8 << 20) -> bool:
    """Whether DuckDB's line reader reads the file as JSON Lines does: its name says whether it
    is gzip (.gz), and it holds no line longer than `longest` bytes, no CR that no LF follows (but
    one ending the file) and not the reader's delimiter. Raises text.NotText."""
    delimiter = DELIMITER.encode()
    tail, line = b"", 0  # the end of the previous chunk, for a match across chunks; bytes since its last LF
    with text.open_text(path) as (stream, compressed):
        native = compressed == path.endswith(".gz") and not path.endswith(".zst")
        while chunk := stream.read(chunk_bytes):
            if native:
                data = tail + chunk
                # Most files hold neither character: a search for one byte (memchr) tells, fast.
                if (data.find(delimiter[:1]) >= 0 and data.find(delimiter) >= 0
                        or data.find(b"\r") >= 0 and LONE_CR.search(data)):
                    native = False
                tail = data[-len(delimiter):]
                line = _line_after(chunk, line, longest)
                native = native and line >= 0
            elif not compressed:
                break  # a compressed file is read to its end: a broken stream shows only there
    return native


def _line_after(chunk: bytes, line: int, longest: int) -> int:
    """The bytes after the last LF of `chunk` (with the `line` bytes before it when it holds
    none), or -1 if a line it ends or holds is longer than `longest` bytes."""
    at = chunk.find(b"\n")
    if at < 0:
        return line + len(chunk) if line + len(chunk) <= longest else -1
    if line + at > longest:
        return -1
    while at + longest + 1 < len(chunk):  # the next LF must come within longest + 1 bytes
        at = chunk.rfind(b"\n", at + 1, at + longest + 2)  # the last one there: few steps
        if at < 0:
            return -1
    return len(chunk) - 1 - chunk.rfind(b"\n")


def _is_utf8(path: str) -> bool:
    """Whether the file is UTF-8 throughout (read in chunks)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with text.open_text(path) as (stream, _):
            while chunk := stream.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True
