"""Hostile landing input: whatever the landing files hold, a run neither crashes nor loses a line.

Every non-empty landing line becomes a row of `<source>_landing` or a row of `quarantine`
(source, file, record, reason). Lines built to be valid land with the right typed values; lines
built to break a rule are quarantined with the reason of the first rule they break. Empty lines
(zero characters) are not records; whitespace-only lines are quarantined. Every file under
`<source>/landing/`, at any depth, gzip-compressed or not, is a landing file, but hidden ones (a
name starting with . or _); a file that is not text is quarantined whole, as one line.

The property test draws landing folders line by line (valid records with extreme values, records
with defects, truncated JSON, non-objects, garbage, whitespace, raw control characters, invalid
UTF-8), files with or without a BOM, with LF, CRLF or mixed line endings, with or without a final
newline, empty files, identical files, gzip-compressed files, files of any name in subfolders,
and hidden files; and, half the time,
a consenting customer with phone and device readings at the same times, so that hostile values
(NUL characters, BIGINT extremes, subnormals, -0.0) flow through every rule. Each example is one
run into a fresh warehouse, under either consent policy; then the accounting must balance with no
negative count, and a rerun must commit nothing.

Example tests cover the rest: a lone CR inside a line, lines the CSV reader rejects or splits
(invalid UTF-8 after empty lines or over 10 kB, the reader's delimiter), lines over the reader's
line limit, file names that are glob patterns or need quoting, landing paths that cannot be read.
"""

import codecs
import gzip
import json
import math
import subprocess
import sys
import tempfile
import textwrap
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stedi import accounting, query, run
from stedi.query import connect_tables
from stedi.contract import INTEGER, NUMBER, SOURCES, STRING

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DOUBLE = 1.7976931348623157e308
BOM = b"\xef\xbb\xbf"
NOT_OBJECT = "not a JSON object"
NOT_UTF8 = "not valid UTF-8"
NOT_TEXT = "not a text file (it holds NUL bytes and is not UTF-8)"
FIELD_NAMES = {f.name for s in SOURCES.values() for f in s.fields}
# Raw control characters a JSON string may not hold (LF ends the line; a lone CR has tests of its own).
CONTROL = [chr(c) for c in range(0x20) if chr(c) not in "\n\r"]
INVALID_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                b"\xf8\x88\x80\x80\x80", b"caf\xe9"]
EXTREME_FLOATS = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1e308, -1e308,
                  MAX_DOUBLE, -MAX_DOUBLE, 0.1, 1 / 3, 9007199254740993.0, 1e-7, 123456789.12345679]


# ---------------------------------------------------------------------------------------------
# The model: JSON values as written, and what the contract makes of them


@dataclass(frozen=True)
class Value:
    text: str  # the JSON text as written in the line
    kind: str  # string, int, float, bool, null, array, object, nonfinite, raw_control
    py: object = None  # the value, for string, int and float


@dataclass(frozen=True)
class Line:
    data: bytes  # without its line terminator
    row: tuple | None = None  # the typed row, when the line must land
    reason: str | None = None  # the quarantine reason, when the line must be quarantined
    record: str | None = None  # the quarantined record, when it is known exactly

    @property
    def is_record(self) -> bool:
        return self.data != b""


def reason_for(source, entries: list[tuple[str, Value]]) -> str | None:
    """The first rule of the contract that an object with these (key, value) entries breaks."""
    if any(v.kind == "raw_control" for _, v in entries):
        return NOT_OBJECT
    lower = [k.lower() for k, _ in entries]
    if len(set(lower)) < len(lower):
        return "duplicate key"
    values = dict(zip(lower, (v for _, v in entries)))
    for field in source.fields:
        value = values.get(field.name)
        if value is None or value.kind == "null":
            if field.required:
                return f"missing {field.name}"
            continue
        reason = type_reason(field, value)
        if reason:
            return reason
    return None


def type_reason(field, value: Value) -> str | None:
    """The rule a present, non-null `value` of `field` breaks, if any."""
    if field.kind == STRING and field.required:
        if value.kind != "string" or value.py == "":
            return f"{field.name} must be a non-empty string"
    elif field.kind == STRING:
        if value.kind != "string":
            return f"{field.name} must be a string"
    elif field.kind == INTEGER:
        if value.kind != "int" or not INT64_MIN <= value.py <= INT64_MAX:
            return f"{field.name} must be an integer"
    elif field.kind == NUMBER:
        if value.kind not in ("int", "float") or not _finite(value.py):
            return f"{field.name} must be a number"
    return None


def typed_row(source, entries: list[tuple[str, Value]]) -> tuple:
    values = {k.lower(): v for k, v in entries}
    row = []
    for field in source.fields:
        value = values.get(field.name)
        if value is None or value.kind == "null":
            row.append(None)
        elif field.kind == NUMBER:
            row.append(float(value.py))
        else:
            row.append(value.py)
    return tuple(row)


def _finite(number) -> bool:
    try:
        return math.isfinite(float(number))
    except OverflowError:
        return False


# ---------------------------------------------------------------------------------------------
# Strategies

short_text = st.text(max_size=12)  # any code point but surrogates, control characters included
any_text = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from("aé€🦄\x00\x7f\u2028\u0085\ufeff\uffff\"\\/ \t"), max_size=20),
    st.builds(lambda ch, n: ch * n, st.characters(codec="utf-8"), st.integers(1_000, 20_000)),  # long
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
              st.floats(allow_nan=False, allow_infinity=False), short_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(short_text, inner, max_size=3)),
    max_leaves=6,
)


@st.composite
def string_value(draw, nonempty: bool = False) -> Value:
    text = draw(any_text.filter(bool) if nonempty else any_text)
    return Value(json.dumps(text, ensure_ascii=draw(st.booleans())), "string", text)


@st.composite
def number_text(draw, number: float) -> str:
    text = json.dumps(number)
    return text.replace("e", "E") if draw(st.booleans()) else text


# Values shared between records and sources, so that the rules join hostile values too: who a
# reading is of, which device, when (the extremes of BIGINT included).
SHARED_STRINGS = ["a@x.com", "A@X.COM", "zoë\x00@x.com", "🦄", " ", "\u2028", "dev-1", "Dev-1"]
SHARED_INTEGERS = [0, 1, -1, 1_655_560_000_000, 1_655_560_000_001, INT64_MAX, INT64_MIN, INT64_MAX - 1]


@st.composite
def valid_value(draw, field) -> Value:
    if field.kind == STRING:
        if field.name in ("email", "user", "serialnumber") and draw(st.booleans()):
            text = draw(st.sampled_from(SHARED_STRINGS))
            return Value(json.dumps(text, ensure_ascii=draw(st.booleans())), "string", text)
        return draw(string_value(nonempty=field.required))
    if field.kind == INTEGER:
        n = draw(st.one_of(st.integers(INT64_MIN, INT64_MAX), st.sampled_from(SHARED_INTEGERS),
                           st.sampled_from(SHARED_INTEGERS)))
        return Value(str(n), "int", n)
    f = draw(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(EXTREME_FLOATS)))
    if draw(st.integers(0, 3)) == 0:  # an integer literal is a number too
        n = draw(st.integers(-(10**30), 10**30))
        return Value(str(n), "int", n)
    return Value(draw(number_text(f)), "float", f)


@st.composite
def other_value(draw) -> Value:
    """A value of any JSON kind (and the non-JSON literals NaN and Infinity)."""
    kind = draw(st.sampled_from(["string", "int", "bigint", "float", "integral_float", "bool", "array", "object",
                                 "nonfinite", "huge"]))
    if kind == "string":
        return draw(string_value())
    if kind == "int":
        n = draw(st.integers(INT64_MIN, INT64_MAX))
        return Value(str(n), "int", n)
    if kind == "bigint":  # an integer out of BIGINT range (still a number)
        n = draw(st.one_of(st.integers(INT64_MAX + 1, 10**30), st.integers(-(10**30), INT64_MIN - 1),
                           st.sampled_from([INT64_MAX + 1, INT64_MIN - 1, 2**64 - 1, 2**64])))
        return Value(str(n), "int", n)
    if kind == "float":
        f = draw(st.floats(allow_nan=False, allow_infinity=False))
        return Value(draw(number_text(f)), "float", f)
    if kind == "integral_float":  # a whole number written as a fraction or with an exponent
        n = draw(st.integers(-1000, 1000))
        return draw(st.sampled_from([Value(f"{n}.0", "float", float(n)), Value(f"{n}e0", "float", float(n)),
                                     Value(f"{n}E+2", "float", float(n * 100)), Value("-0.0", "float", -0.0)]))
    if kind == "bool":
        return Value(draw(st.sampled_from(["true", "false"])), "bool")
    if kind == "array":
        return Value(json.dumps(draw(st.lists(json_values, max_size=3))), "array")
    if kind == "object":
        return Value(json.dumps(draw(st.dictionaries(short_text, json_values, max_size=3))), "object")
    if kind == "nonfinite":
        return Value(draw(st.sampled_from(["NaN", "Infinity", "-Infinity"])), "nonfinite")
    return Value(draw(st.sampled_from(["1e999", "-1e400", "1" + "0" * 400])), "nonfinite")  # out of DOUBLE range


@st.composite
def wrong_value(draw, field) -> Value:
    """A value the field does not accept."""
    while True:
        value = draw(other_value())
        if value.kind != "null" and type_reason(field, value):
            return value


@st.composite
def spelling(draw, name: str) -> str:
    """The key `name` in any letter case."""
    style = draw(st.sampled_from(["lower", "upper", "random"]))
    if style == "lower":
        return name
    if style == "upper":
        return name.upper()
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.upper() if flip else c for c, flip in zip(name, flips))


def _folds(key: str) -> set[str]:
    ascii_key = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()
    return {key.lower(), key.casefold(), ascii_key.lower()}


@st.composite
def extra_keys(draw, taken: set[str]) -> list[str]:
    """Unknown keys: none of them equal to a contract field or to each other in any letter case."""
    keys = []
    for key in draw(st.lists(st.text(max_size=10), max_size=3)):
        folds = _folds(key)
        if folds & (FIELD_NAMES | taken):
            continue
        taken |= folds
        keys.append(key)
    return keys


@st.composite
def key_text(draw, key: str) -> str:
    """`key` as a JSON string, sometimes with one ASCII letter written as a \\u escape."""
    text = json.dumps(key, ensure_ascii=draw(st.booleans()))
    letters, i = [], 1
    while i < len(text) - 1:  # the letters between the quotes that are not part of an escape
        if text[i] == "\\":
            i += 6 if text[i + 1] == "u" else 2
            continue
        if text[i].isascii() and text[i].isalpha():
            letters.append(i)
        i += 1
    if letters and draw(st.integers(0, 4)) == 0:
        i = draw(st.sampled_from(letters))
        text = text[:i] + f"\\u{ord(text[i]):04x}" + text[i + 1:]
    return text


ws = st.sampled_from(["", "", " ", "  ", "\t"])


@st.composite
def object_entries(draw, source) -> list[tuple[str, Value]]:
    """The (key, value) entries of an object line: valid, or with a few defects."""
    broken = set()
    if draw(st.integers(0, 2)) == 0:
        broken = set(draw(st.lists(st.sampled_from([f.name for f in source.fields]), min_size=1, max_size=2)))
    entries = []
    for field in source.fields:
        if field.name in broken:
            defects = ["absent", "null", "wrong", "wrong"] + (["empty"] if field.kind == STRING else [])
            defect = draw(st.sampled_from(defects))
        elif field.required:
            defect = "valid"
        else:
            defect = draw(st.sampled_from(["valid", "valid", "absent", "null"]))
        key = draw(spelling(field.name))
        if defect == "valid":
            entries.append((key, draw(valid_value(field))))
        elif defect == "null":
            entries.append((key, Value("null", "null")))
        elif defect == "empty":
            entries.append((key, Value('""', "string", "")))
        elif defect == "wrong":
            entries.append((key, draw(wrong_value(field))))
    for key in draw(extra_keys({k.lower() for k, _ in entries})):
        entries.append((key, draw(st.one_of(other_value(), st.just(Value("null", "null"))))))
    if entries and draw(st.integers(0, 6)) == 0:  # a key twice, perhaps in another case
        key, _ = draw(st.sampled_from(entries))
        entries.append((draw(spelling(key)) if key.isascii() else key, draw(other_value())))
    strings = [i for i, (_, v) in enumerate(entries) if v.kind == "string"]
    if strings and draw(st.integers(0, 8)) == 0:  # a raw control character inside a string
        i = draw(st.sampled_from(strings))
        key, value = entries[i]
        at = draw(st.integers(1, len(value.text) - 1))
        entries[i] = (key, Value(value.text[:at] + draw(st.sampled_from(CONTROL)) + value.text[at:], "raw_control"))
    return draw(st.permutations(entries))


@st.composite
def object_text(draw, entries) -> str:
    parts = [f"{draw(ws)}{draw(key_text(k))}{draw(ws)}:{draw(ws)}{v.text}{draw(ws)}" for k, v in entries]
    return draw(ws) + "{" + ",".join(parts) + "}" + draw(ws)


@st.composite
def object_line(draw, source) -> Line:
    entries = draw(object_entries(source))
    text = draw(object_text(entries))
    reason = reason_for(source, entries)
    if reason is None:
        return Line(text.encode(), row=typed_row(source, entries))
    return Line(text.encode(), reason=reason, record=text)


@st.composite
def truncated_line(draw, source) -> Line:
    """A valid record cut short: never a JSON object."""
    entries = draw(object_entries(source))
    text = draw(object_text(entries)).rstrip()
    cut = draw(st.integers(1, len(text) - 1))
    text = text[:cut]
    if not text.strip():
        text = "{"
    return Line(text.encode(), reason=NOT_OBJECT, record=text)


@st.composite
def non_object_line(draw) -> Line:
    """JSON that is not an object: an array, a string, a number, true, false, null, NaN."""
    value = draw(st.one_of(
        st.lists(json_values, max_size=3), st.text(max_size=10), st.integers(), st.booleans(), st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
    ))
    text = draw(st.one_of(st.just(json.dumps(value)), st.sampled_from(["NaN", "Infinity", "-Infinity", "[{}]"])))
    return Line(text.encode(), reason=NOT_OBJECT, record=text)


def _not_an_object(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), dict)
    except ValueError:
        return True


garbage_text = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), min_size=1, max_size=60).filter(
    lambda t: not t.startswith("\ufeff") and _not_an_object(t))


@st.composite
def garbage_line(draw) -> Line:
    text = draw(st.one_of(
        garbage_text,
        st.sampled_from(["{", "}", "{}}", '{"user"', "{'user': 'a'}", "# comment", "\x1e", "a\x1eb", '"', "\\",
                         "\x00", "undefined", "{\"a\": 1} {\"b\": 2}", "[1, 2", "\ufffd"]),
    ))
    return Line(text.encode(), reason=NOT_OBJECT, record=text)


@st.composite
def whitespace_line(draw) -> Line:
    text = draw(st.text(st.sampled_from(" \t\x0b\x0c\u00a0\u2003\u3000\u2028\u0085"), min_size=1, max_size=8))
    return Line(text.encode(), reason=NOT_OBJECT, record=text)


@st.composite
def invalid_utf8_line(draw, source) -> Line:
    """A line (of any kind) with bytes that are not UTF-8; its record cannot be kept byte for byte.

    At most 2,000 bytes: DuckDB keeps 10,000 bytes of a line it cannot read (see the example tests).
    """
    data = draw(st.one_of(object_line(source), garbage_line())).data[:2000]
    at = draw(st.integers(0, len(data)))
    data = data[:at] + draw(st.sampled_from(INVALID_UTF8)) + data[at:]
    try:  # the bytes may complete a character cut in two
        data.decode()
        data += b"\xff"
    except UnicodeDecodeError:
        pass
    return Line(data, reason=NOT_UTF8)


def any_line(source):
    return st.one_of(
        object_line(source), object_line(source), object_line(source), truncated_line(source), non_object_line(),
        garbage_line(), whitespace_line(), invalid_utf8_line(source), st.just(Line(b"")),
    )


@dataclass(frozen=True)
class LandingFile:
    name: str
    lines: list[Line]
    data: bytes


def is_binary(content: bytes) -> bool:
    """A NUL byte in the first 8,000 bytes, which are not UTF-8 (but for a character cut at their end)."""
    head = content[:8000]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return b"\0" in head
    return False


@st.composite
def landing_file(draw, source, name: str) -> LandingFile:
    lines = draw(st.lists(any_line(source), max_size=8))
    style = draw(st.sampled_from(["LF", "CRLF", "mixed"]))
    endings = [b"\r\n" if style == "CRLF" or style == "mixed" and draw(st.booleans()) else b"\n" for _ in lines]
    if lines and draw(st.booleans()):  # the last line has no line terminator
        endings[-1] = b""
    data = b"".join(line.data + end for line, end in zip(lines, endings))
    if draw(st.integers(0, 3)) == 0:
        data = BOM + data
    if is_binary(data):
        lines = [Line(b"(the whole file)", reason=NOT_TEXT)]
    if name.endswith(".gz") or name.endswith("-gzip"):
        data = gzip.compress(data, mtime=0)
    return LandingFile(name, lines, data)


@st.composite
def linked_files(draw) -> dict[str, LandingFile]:
    """A consenting customer, their phone's readings and their device's readings at the same
    times, valid but hostile in every value, so that every table is built from them."""
    email, serial = draw(st.sampled_from(SHARED_STRINGS)), draw(st.sampled_from(SHARED_STRINGS))
    consent = draw(st.sampled_from(SHARED_INTEGERS))
    times = draw(st.lists(st.sampled_from(SHARED_INTEGERS), min_size=1, max_size=4))
    fixed = {"email": email, "user": email, "serialnumber": serial, "sharewithresearchasofdate": consent}
    records = {"customer": [{}], "accelerometer": [{"timestamp": t} for t in times],
               "step_trainer": [{"sensorreadingtime": t} for t in times]}
    files = {}
    for name, lines in records.items():
        source = SOURCES[name]
        built = []
        for record in lines:
            entries = []
            for field in source.fields:
                value = {**fixed, **record}.get(field.name)
                if value is None:
                    entry = draw(valid_value(field))
                elif isinstance(value, str):
                    entry = Value(json.dumps(value, ensure_ascii=draw(st.booleans())), "string", value)
                else:
                    entry = Value(str(value), "int", value)
                entries.append((draw(spelling(field.name)), entry))
            text = draw(object_text(draw(st.permutations(entries))))
            built.append(Line(text.encode(), row=typed_row(source, entries)))
        data = b"\n".join(line.data for line in built) + b"\n"
        files[name] = LandingFile(f"{name}-linked.json", built, data)
    return files


HIDDEN_FILES = [".DS_Store", "_SUCCESS", ".tmp/part-0.json", "2026/_temporary/0/x.json"]
FILE_NAMES = ["{s}-{i}.json", "{s} {i}.json", "{s}-ünï-{i}.json", "{s}-{i}.jsonl", "{s}-{i}.JSON", "{s}-{i}",
              "2026/12/0{i}/{s}.json", "{s}-{i}.json.gz", "2026/12/03/{s}-{i}-gzip"]


@st.composite
def landing_folder(draw) -> dict[str, list[LandingFile]]:
    folder = {}
    for source in SOURCES.values():
        files = []
        for i in range(draw(st.integers(0, 3))):
            pattern = draw(st.sampled_from(FILE_NAMES))
            files.append(draw(landing_file(source, pattern.format(s=source.name, i=i))))
        if files and draw(st.integers(0, 5)) == 0:  # a second copy of a file, under another name
            files.append(LandingFile(f"{source.name}-copy.json", files[0].lines, files[0].data))
        folder[source.name] = files
    if draw(st.booleans()):
        for source, linked in draw(linked_files()).items():
            folder[source].append(linked)
    return folder


# ---------------------------------------------------------------------------------------------
# Running and checking


def write(folder: Path, landing: dict[str, list[LandingFile]], others: list[str] = ()) -> None:
    for source in SOURCES:
        (folder / source / "landing").mkdir(parents=True)
        for f in landing.get(source, []):
            (folder / source / "landing" / f.name).parent.mkdir(parents=True, exist_ok=True)
            (folder / source / "landing" / f.name).write_bytes(f.data)
        for name in others:
            path = folder / source / "landing" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"this is no landing file\n\xff\r\n{\"user\": \"x\"}\n")


def ingested(files: list[LandingFile]) -> list[LandingFile]:
    """The files a run takes in: a file identical to one taken before is skipped."""
    seen, taken = set(), []
    for f in sorted(files, key=lambda f: f.name):
        if f.data not in seen:
            seen.add(f.data)
            taken.append(f)
    return taken


def short(value, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check(warehouse: str, landing: dict[str, list[LandingFile]]) -> None:
    con = connect_tables(warehouse)  # one reader for every table (query() opens the catalog each time)
    quarantine = con.execute("SELECT source, file, record, reason FROM quarantine").fetchall()
    assert {source for source, *_ in quarantine} <= set(SOURCES)
    for source in SOURCES:
        files = ingested(landing.get(source, []))
        lines = [(f"{source}/landing/{f.name}", line) for f in files for line in f.lines if line.is_record]
        kept = con.execute(f"SELECT * FROM {source}_landing").fetchall()
        held = [(file, record, reason) for s, file, record, reason in quarantine if s == source]
        assert all(reason for _, _, reason in held), "a quarantined line without a reason"
        assert {file for file, _, _ in held} <= {file for file, _ in lines}, "a quarantined line names a wrong file"

        problems = []
        expected_rows = Counter(repr(line.row) for _, line in lines if line.row is not None)
        landed_rows = Counter(repr(row) for row in kept)
        problems += [f"missing from {source}_landing: {short(r)}" for r in expected_rows - landed_rows]
        problems += [f"unexpected in {source}_landing: {short(r)}" for r in landed_rows - expected_rows]
        left = Counter(held)
        for file, line in lines:  # first the quarantined lines whose record is known exactly
            if line.reason is not None and line.record is not None:
                if left[(file, line.record, line.reason)] > 0:
                    left[(file, line.record, line.reason)] -= 1
                else:
                    problems.append(f"not quarantined as {line.reason!r}: {short(line.data)} ({file})")
        unmatched = Counter((file, reason) for (file, _, reason), n in left.items() for _ in range(n))
        unknown = Counter((file, line.reason) for file, line in lines
                          if line.reason is not None and line.record is None)
        problems += [f"not quarantined as {reason!r}: a line of {file}" for file, reason in unknown - unmatched]
        extra = unmatched - unknown
        problems += [f"unexpected in quarantine: {short(row)}" for row, n in left.items()
                     if n and extra[(row[0], row[2])]]
        if len(kept) + len(held) != len(lines):
            problems.append(f"{len(lines)} {source} lines, but {len(kept)} rows and {len(held)} quarantined")
        assert not problems, "\n".join(problems)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(landing=landing_folder(), others=st.lists(st.sampled_from(HIDDEN_FILES), unique=True, max_size=3),
       policy=st.sampled_from(["any", "as-of"]))
def test_every_landing_line_lands_or_is_quarantined_with_its_reason(landing, others, policy):
    with tempfile.TemporaryDirectory() as tmp:
        warehouse, source = str(Path(tmp) / "wh"), str(Path(tmp) / "in")
        write(Path(source), landing, others)
        result = run(warehouse, source, policy)
        for name in SOURCES:
            assert sorted(result.ingested[name]) == sorted(f.name for f in ingested(landing.get(name, [])))
        check(warehouse, landing)
        for account in accounting.account(connect_tables(warehouse), policy):
            assert account.balanced and min(account.left_out.values(), default=0) >= 0, account
        assert run(warehouse, source, policy).committed == []  # a rerun changes nothing


# ---------------------------------------------------------------------------------------------
# Cases the property test leaves to examples


GOOD = b'{"user": "a@x.com", "timestamp": 1, "x": 1.5, "y": -0.0, "z": 1e308}'
GOOD_ROW = ("a@x.com", 1, 1.5, -0.0, 1e308)


def run_one(tmp_path, files: dict[str, bytes | None], source: str = "accelerometer"):
    """Write `files` (name -> bytes; None: a folder) to one source's landing folder and run."""
    landing = tmp_path / "in" / source / "landing"
    landing.mkdir(parents=True)
    for name, data in files.items():
        if data is None:
            (landing / name).mkdir()
        else:
            (landing / name).write_bytes(data)
    run(str(tmp_path / "wh"), str(tmp_path / "in"))
    return str(tmp_path / "wh")


def quarantined(warehouse) -> list[tuple]:
    return sorted(query(warehouse, "SELECT file, record, reason FROM quarantine")[1])


def landed(warehouse, source="accelerometer") -> list[tuple]:
    return sorted(query(warehouse, f"SELECT * FROM {source}_landing")[1], key=repr)


def test_hidden_files_are_not_read_and_the_run_says_so(tmp_path):
    landing = tmp_path / "in" / "accelerometer" / "landing"
    for name in HIDDEN_FILES:
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_bytes(b"garbage\n" + GOOD + b"\n")
    (landing / "a.json").write_bytes(GOOD + b"\n")
    result = run(str(tmp_path / "wh"), str(tmp_path / "in"))
    assert landed(tmp_path / "wh") == [GOOD_ROW]
    assert quarantined(tmp_path / "wh") == []
    assert sorted(result.skipped) == sorted(f"{landing / name} is hidden (a name starting with . or _): not read"
                                            for name in HIDDEN_FILES)


def test_a_bom_only_file_an_empty_file_and_empty_lines_hold_no_records(tmp_path):
    wh = run_one(tmp_path, {"bom.json": BOM, "empty.json": b"", "newlines.json": b"\n\n\n", "crlf.json": b"\r\n\r\n",
                            "a.json": BOM + b"\n" + GOOD + b"\n\n"})
    assert landed(wh) == [GOOD_ROW] and quarantined(wh) == []


def test_a_whitespace_line_after_a_bom_is_quarantined_without_the_bom(tmp_path):
    wh = run_one(tmp_path, {"a.json": BOM + b" \t\r\n" + GOOD + b"\r\n"})
    assert landed(wh) == [GOOD_ROW]
    assert quarantined(wh) == [("accelerometer/landing/a.json", " \t", NOT_OBJECT)]


@pytest.mark.parametrize("first", ["-0.0", "0"])
def test_the_sign_of_zero_survives(tmp_path, first):
    zeros = [first, "0", "-0.0", "0.0", "-0.0"]
    lines = [b'{"user": "a", "timestamp": %d, "x": 1, "y": 1, "z": %s}' % (t, z.encode()) for t, z in enumerate(zeros)]
    wh = run_one(tmp_path, {"a.json": b"\n".join(lines + [b"broken", b"broken too"]) + b"\n"})
    landed_zs = [repr(z) for z, in query(wh, 'SELECT z FROM accelerometer_landing ORDER BY "timestamp"')[1]]
    assert landed_zs == [repr(float(json.loads(z))) for z in zeros]


def test_a_line_of_a_megabyte_lands_whole(tmp_path):
    user = "u" * 1_000_000
    line = json.dumps({"user": user, "timestamp": 1, "x": 1, "y": 1, "z": 1})
    wh = run_one(tmp_path, {"a.json": line.encode() + b"\n"})
    assert query(wh, 'SELECT length("user") FROM accelerometer_landing')[1] == [(len(user),)]


@pytest.mark.parametrize("kind", ["valid record", "garbage"])
def test_a_line_longer_than_two_megabytes_is_not_lost(tmp_path, kind):
    if kind == "valid record":
        line = json.dumps({"user": "u" * 3_000_000, "timestamp": 1, "x": 1, "y": 1, "z": 1})
    else:
        line = "x" * 3_000_000
    wh = run_one(tmp_path, {"a.json": line.encode() + b"\n" + GOOD + b"\n"})
    held = quarantined(wh)
    rows = landed(wh)
    assert len(rows) + len(held) == 2
    if kind == "garbage" or len(rows) == 1:  # the long line is quarantined: whole, with a true reason
        ((file, record, reason),) = held
        assert len(record) == len(line) and record == line
        assert reason != NOT_OBJECT or kind == "garbage"
    else:
        assert sorted(len(r[0]) for r in rows) == [7, 3_000_000]


@pytest.mark.parametrize("data, record, reason", [
    pytest.param(GOOD + b"\na\x1eb\n", "a\x1eb", NOT_OBJECT, id="a record separator"),
    pytest.param(b"\n\n" + GOOD + b"\n\na\x1eb\n", "a\x1eb", NOT_OBJECT, id="a record separator after an empty line"),
    pytest.param(GOOD + b"\r\n\r\na\x1eb\r\n", "a\x1eb", NOT_OBJECT, id="the same, CRLF"),
    pytest.param(b"\x1e" + "é".encode() * 6000 + b"\n", "\x1e" + "é" * 6000, NOT_OBJECT,
                 id="a 12 kB line with a record separator"),
    pytest.param(b"\x1e" + b"+" * 20_000 + b"\n", "\x1e" + "+" * 20_000, NOT_OBJECT,
                 id="a 20 kB line with a record separator"),
])
def test_a_line_duckdb_rejects_is_quarantined_whole(tmp_path, data, record, reason):
    wh = run_one(tmp_path, {"a.json": data})
    assert quarantined(wh) == [("accelerometer/landing/a.json", record, reason)]


@pytest.mark.parametrize("data", [
    pytest.param(b"\xff" + b"+" * 300 + b"\n", id="short"),
    pytest.param(b"\xff" + "é".encode() * 6000 + b"\n", id="12 kB"),
    pytest.param(b"\xff" + b"+" * 20_000 + b"\n", id="20 kB"),
    pytest.param(b"a\x1e\xff" + b"+" * 300 + b"\n", id="with a record separator"),
])
def test_a_line_that_is_not_utf8_is_quarantined_with_all_it_holds(tmp_path, data):
    wh = run_one(tmp_path, {"a.json": GOOD + b"\n" + data})
    assert landed(wh) == [GOOD_ROW]
    ((file, record, reason),) = quarantined(wh)
    assert reason == NOT_UTF8
    text = data.rstrip(b"\n").decode(errors="replace")
    assert len(record) == len(text) and record[-100:] == text[-100:]


@pytest.mark.parametrize("after", [b" trailing garbage", GOOD])
def test_a_line_holding_the_readers_delimiter_is_quarantined_whole(tmp_path, after):
    line = GOOD + b"\x1e\x1f\x1e\x1f" + after
    wh = run_one(tmp_path, {"a.json": line + b"\n"})
    assert landed(wh) == []
    assert quarantined(wh) == [("accelerometer/landing/a.json", line.decode(), NOT_OBJECT)]


@pytest.mark.parametrize("empty", [b"\n", b"\r\n", b"\n\n"])
def test_a_line_that_is_not_utf8_after_empty_lines_is_quarantined_without_them(tmp_path, empty):
    wh = run_one(tmp_path, {"a.json": GOOD + b"\n" + empty + b"\xff{\n"})
    assert quarantined(wh) == [("accelerometer/landing/a.json", "\ufffd{", NOT_UTF8)] or \
        quarantined(wh) == [("accelerometer/landing/a.json", "?{", NOT_UTF8)]


MIXED_ENDINGS = {
    "CRLF lines, then LF lines": GOOD + b"\r\n" + GOOD + b"\n" + GOOD + b"\n",
    "LF lines, then CRLF lines": GOOD + b"\n" + GOOD + b"\r\n",
    "LF lines, the last ending in CR": GOOD + b"\n" + GOOD + b"\r",
}


@pytest.mark.parametrize("case", list(MIXED_ENDINGS))
def test_a_file_mixing_lf_and_crlf_line_endings_does_not_crash_the_run(tmp_path, case):
    wh = run_one(tmp_path, {"a.json": MIXED_ENDINGS[case]})
    assert landed(wh) == [GOOD_ROW] * MIXED_ENDINGS[case].count(GOOD)
    assert quarantined(wh) == []


# A JSON Lines line ends at LF; a CR before it is whitespace, and so is a CR between two tokens.
# A CR anywhere else does not end the line: the line is one record (jsonlines.org).
LONE_CR = {
    "a CR inside a JSON string": (GOOD + b'\n{"user": "a\rb", "timestamp": 1, "x": 1, "y": 1, "z": 1}\n', 1,
                                  ['{"user": "a\rb", "timestamp": 1, "x": 1, "y": 1, "z": 1}']),
    "a CR as whitespace between tokens": (
        b'{"user": "a@x.com",\r"timestamp": 1, "x": 1.5, "y": -0.0, "z": 1e308}\n', 1, []),
    "a CR inside garbage": (b"abc\rdef\n" + GOOD + b"\n", 1, ["abc\rdef"]),
}


@pytest.mark.parametrize("case", list(LONE_CR))
def test_a_carriage_return_inside_a_line_is_part_of_the_line(tmp_path, case):
    data, good_rows, garbage = LONE_CR[case]
    wh = run_one(tmp_path, {"a.json": data})
    assert landed(wh) == [GOOD_ROW] * good_rows
    assert quarantined(wh) == [("accelerometer/landing/a.json", g, NOT_OBJECT) for g in garbage]


@pytest.mark.parametrize("name", ["a b.json", "ünï.json", "a,b.json", "{a,b}.json", "$HOME.json", "a\\b.json",
                                  "o'brien.json", "it''s.json"])
def test_a_landing_file_name_with_odd_characters_is_read(tmp_path, name):
    wh = run_one(tmp_path, {name: GOOD + b"\nbroken\n"})
    assert landed(wh) == [GOOD_ROW]
    assert quarantined(wh) == [(f"accelerometer/landing/{name}", "broken", NOT_OBJECT)]


@pytest.mark.parametrize("name, other", [("[x].json", "x.json"), ("a*.json", "ab.json"), ("q?.json", "qq.json")])
def test_a_landing_file_name_is_taken_literally(tmp_path, name, other):
    files = {name: GOOD + b"\n"}
    if other:
        files[other] = b"broken\n"
    wh = run_one(tmp_path, files)
    assert landed(wh) == [GOOD_ROW]
    assert quarantined(wh) == ([(f"accelerometer/landing/{other}", "broken", NOT_OBJECT)] if other else [])


# ---------------------------------------------------------------------------------------------
# Landing files that cannot be read: reported, never fatal


@pytest.mark.parametrize("kind", ["folder named x.json", "dangling symlink"])
def test_a_landing_path_that_is_no_readable_file_does_not_fail_the_run(tmp_path, kind):
    landing = tmp_path / "in" / "accelerometer" / "landing"
    landing.mkdir(parents=True)
    (landing / "a.json").write_bytes(GOOD + b"\n")
    if kind == "dangling symlink":
        (landing / "x.json").symlink_to(tmp_path / "nowhere.json")
    else:
        (landing / "x.json").mkdir()
    run(str(tmp_path / "wh"), str(tmp_path / "in"))
    assert landed(tmp_path / "wh") == [GOOD_ROW]


UNREADABLE = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    import stedi
    warm, folder = Path(sys.argv[1]), Path(sys.argv[2])
    stedi.run(str(warm / "wh"), str(warm / "in"))  # import everything while still root
    if os.geteuid() == 0:  # root reads any file: run as nobody, who cannot
        os.setegid(65534)
        os.seteuid(65534)
    try:
        open(folder / "in/accelerometer/landing/secret.json", "rb")
    except PermissionError:
        pass
    else:
        print(json.dumps({"skip": "the file stays readable"}))
        sys.exit(0)
    try:
        stedi.run(str(folder / "wh"), str(folder / "in"))
    except Exception as error:
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
    else:
        rows = stedi.query(str(folder / "wh"), "SELECT * FROM accelerometer_landing")[1]
        print(json.dumps({"rows": rows}))
""")


def test_a_landing_file_without_read_permission_does_not_fail_the_run():
    folders = [Path(tempfile.mkdtemp()) for _ in range(2)]  # under /tmp: nobody can reach them
    try:
        for folder in folders:
            folder.chmod(0o777)
            landing = folder / "in" / "accelerometer" / "landing"
            landing.mkdir(parents=True)
            (landing / "a.json").write_bytes(GOOD + b"\n")
            (landing / "secret.json").write_bytes(b"secret\n")
            for path in [folder / "in", folder / "in" / "accelerometer", landing]:
                path.chmod(0o777)
        (folders[1] / "in/accelerometer/landing/secret.json").chmod(0)
        out = subprocess.run([sys.executable, "-c", UNREADABLE, *map(str, folders)], capture_output=True, text=True,
                             cwd=folders[1], timeout=120)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if "skip" in result:
            pytest.skip(result["skip"])
        assert "error" not in result, result["error"]
        assert [tuple(r) for r in result["rows"]] == [GOOD_ROW]
    finally:
        for folder in folders:
            subprocess.run(["rm", "-rf", str(folder)], check=False)
