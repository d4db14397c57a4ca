"""Quarantine rules: which landing lines become rows and which are quarantined, and why.

Each engine reads a landing file into one row per line with these columns (its only job at the
edge), and this module turns that relation into typed rows or quarantine reasons, in SQL that
every engine runs:

- ``file``, ``record``: the source file and the raw line;
- ``read_error``: why the line could not be read as text (else NULL): not UTF-8, longer than the
  longest line a run reads (then ``record`` holds its first characters), or its whole file is not
  text (then ``record`` is NULL: the file is quarantined as one line);
- ``is_object``: the line is a JSON object;
- ``duplicate_key``: a key appears twice, compared case-insensitively;
- per contract field ``f``: ``f__is_string`` (the value is a JSON string) and ``f__text`` (the
  string, or the JSON text of any other value; NULL when the key is absent or the value null).
"""

import os

from .contract import INTEGER, NUMBER, STRING, Field, Source

MAX_DOUBLE = "1.7976931348623157e308"
MAX_LINE_VARIABLE = "STEDI_MAX_LINE_BYTES"
DEFAULT_MAX_LINE_BYTES = 16 << 20
KEPT_CHARACTERS = 1024  # of a line too long to read
NOT_UTF8 = "not valid UTF-8"


def resolved_max_line_bytes(given: int | None = None) -> int:
    """The longest landing line a run reads, in bytes: `given`, else $STEDI_MAX_LINE_BYTES, else
    16 MiB. A longer line is quarantined with its first characters (see `too_long`)."""
    value = given if given is not None else os.environ.get(MAX_LINE_VARIABLE) or DEFAULT_MAX_LINE_BYTES
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValueError(f"the longest line must be a number of bytes such as 16777216, not {value!r}")
    return limit


def too_long(max_line_bytes: int) -> str:
    """The reason a line longer than `max_line_bytes` is quarantined."""
    return f"line longer than {max_line_bytes} bytes"


def _is_integer(f: str) -> str:
    return (
        f"COALESCE(NOT {f}__is_string AND regexp_matches({f}__text, '^-?[0-9]+$') "
        f"AND TRY_CAST({f}__text AS BIGINT) IS NOT NULL, false)"
    )


def _is_number(f: str) -> str:
    # BETWEEN excludes NaN and the infinities, which JSON cannot carry.
    return f"COALESCE(NOT {f}__is_string AND TRY_CAST({f}__text AS DOUBLE) BETWEEN -{MAX_DOUBLE} AND {MAX_DOUBLE}, false)"


def _checks(field: Field) -> list[tuple[str, str]]:
    """(condition that fails the line, reason) for one field, in the order they are tried."""
    f = field.name
    present = f"{f}__text IS NOT NULL"
    checks = [(f"{f}__text IS NULL", f"missing {f}")] if field.required else []
    if field.kind == STRING and field.required:
        checks.append((f"NOT {f}__is_string OR {f}__text = ''", f"{f} must be a non-empty string"))
    elif field.kind == STRING:
        checks.append((f"{present} AND NOT {f}__is_string", f"{f} must be a string"))
    elif field.kind == INTEGER:
        checks.append((f"{present} AND NOT {_is_integer(f)}", f"{f} must be an integer"))
    elif field.kind == NUMBER:
        checks.append((f"{present} AND NOT {_is_number(f)}", f"{f} must be a number"))
    return checks


def validated_sql(source: Source, lines: str) -> str:
    """SELECT file, record, reason and the typed columns from the engine's `lines` relation.

    `reason` is NULL for a line that becomes a row, else the first rule the line breaks; `record`
    (the raw line) is kept for quarantined lines only.
    """
    whens = [
        ("read_error IS NOT NULL", None),
        ("NOT is_object", "not a JSON object"),
        ("duplicate_key", "duplicate key"),
    ] + [check for field in source.fields for check in _checks(field)]
    cases = "\n".join(
        f"    WHEN {cond} THEN {'read_error' if reason is None else repr(reason)}" for cond, reason in whens
    )
    typed = ",\n".join(f"  TRY_CAST({name}__text AS {sql_type}) AS {quote(name)}" for name, sql_type in source.columns)
    return (
        f"SELECT file, CASE WHEN reason IS NOT NULL THEN record END AS record, reason, "
        f"{', '.join(quote(name) for name, _ in source.columns)}\nFROM (\n"
        f"SELECT file, record,\n  CASE\n{cases}\n  END AS reason,\n{typed}\nFROM {lines}\n) AS validated"
    )


def quote(name: str) -> str:
    """Quote an identifier (DuckDB dialect; transpiled for other engines)."""
    return f'"{name}"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"
