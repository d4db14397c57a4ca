"""Landing files as producers write them, on both engines: gzip-compressed or not, of any name, in
date-partitioned folders at any depth; a file that is not text is quarantined whole and named in
the run's summary; a line too long to read is quarantined with its first characters."""

import gzip
import json

import pytest
from conftest import contents

from stedi import accounting, forget, query, run
from stedi.cli import main
from stedi.engines.spark import java_available
from stedi.query import connect_tables

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.skipif(not java_available(), reason="no Java"))]
KEPT = 1024  # the characters of a too-long line kept in the quarantine


def reading(t: int, user: str = "a@x.com", **extra) -> bytes:
    return json.dumps({"user": user, "timestamp": t, "x": 1.5, "y": -0.5, "z": 2.0, **extra}).encode()


def landing(tmp_path, files: dict[str, bytes], source: str = "accelerometer"):
    """Write `files` (path under the landing folder -> bytes) to a source folder; return it."""
    folder = tmp_path / "in"
    for name, data in files.items():
        path = folder / source / "landing" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def timestamps(warehouse) -> list[int]:
    return sorted(t for t, in query(str(warehouse), 'SELECT "timestamp" FROM accelerometer_landing')[1])


def quarantined(warehouse) -> list[tuple]:
    return sorted(query(str(warehouse), "SELECT file, record, reason FROM quarantine")[1], key=repr)


def balanced(warehouse) -> bool:
    return all(a.balanced for a in accounting.account(connect_tables(str(warehouse)), "any"))


FIREHOSE = "2026/12/03/14/stedi-accelerometer-1-2026-12-03-14-05-17-0b6c3c1e-8f1a-4b1e-9d55-0d2f3c1f6a77"
PRODUCER_FILES = {  # name -> (bytes, the timestamps its lines hold)
    "a.json.gz": (gzip.compress(reading(1) + b"\n" + reading(2) + b"\n"), [1, 2]),
    f"{FIREHOSE}.gz": (gzip.compress(reading(3) + b"\n"), [3]),
    FIREHOSE: (gzip.compress(reading(4) + b"\n"), [4]),  # gzip, though the name does not say so
    "b.gz": (gzip.compress(reading(5) + b"\r\n"), [5]),
    "c.jsonl": (reading(6) + b"\n", [6]),
    "d.JSON": (reading(7) + b"\n", [7]),
    "e": (reading(8), [8]),
    "f.GZ": (gzip.compress(reading(9) + b"\n"), [9]),
    "plain-text.gz": (reading(10) + b"\n", [10]),  # not gzip, though the name says so
    "2026/12/04/g.json": (reading(11) + b"\n", [11]),
}


@pytest.mark.parametrize("engine", ENGINES)
def test_gzip_any_name_and_any_depth_are_read(tmp_path, engine):
    source = landing(tmp_path, {name: data for name, (data, _) in PRODUCER_FILES.items()})
    result = run(str(tmp_path / "wh"), str(source), engine=engine)
    assert sorted(result.ingested["accelerometer"]) == sorted(PRODUCER_FILES)
    assert timestamps(tmp_path / "wh") == sorted(t for _, ts in PRODUCER_FILES.values() for t in ts)
    assert quarantined(tmp_path / "wh") == [] and result.not_text == []
    for name, (data, _) in PRODUCER_FILES.items():  # kept as received, at the same path
        assert (tmp_path / "wh" / "accelerometer" / "landing" / name).read_bytes() == data
    assert run(str(tmp_path / "wh"), str(source), engine=engine).committed == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_that_is_not_text_is_quarantined_whole_and_named(tmp_path, engine):
    broken = gzip.compress(reading(2) + b"\n" + reading(3) + b"\n" * 1000)[:-20]  # cut before its end
    binary = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe" * 50
    source = landing(tmp_path, {"a.json": reading(1) + b"\n", "2026/12/03/b.json.gz": broken, "c.png": binary})
    result = run(str(tmp_path / "wh"), str(source), engine=engine)
    assert timestamps(tmp_path / "wh") == [1]
    (b_file, b_record, b_reason), (c_file, c_record, c_reason) = quarantined(tmp_path / "wh")
    assert (b_file, b_record, c_file, c_record) == ("accelerometer/landing/2026/12/03/b.json.gz", None,
                                                    "accelerometer/landing/c.png", None)
    assert b_reason.startswith("broken gzip stream (")
    assert c_reason == "not a text file (it holds NUL bytes and is not UTF-8)"
    assert sorted(result.not_text) == [f"{b_file}: {b_reason}", f"{c_file}: {c_reason}"]
    assert balanced(tmp_path / "wh")


def test_the_summary_names_a_file_that_is_not_text(tmp_path, capsys):
    source = landing(tmp_path, {"a.json": reading(1) + b"\n", "b.json.gz": b"\x1f\x8b\x08\x00broken"})
    assert main(["run", "--warehouse", str(tmp_path / "wh"), "--source", str(source), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "quarantined whole, not text: accelerometer/landing/b.json.gz: broken gzip stream" in out
    assert "accelerometer: 2 landing rows = 0 kept + 1 not a customer with research consent + 1 quarantined" in out


def test_files_dropped_into_the_landing_zone_at_any_depth_are_read(tmp_path):
    run(str(tmp_path / "wh"), str(landing(tmp_path, {"a.json": reading(1) + b"\n"})))
    dropped = tmp_path / "wh" / "accelerometer" / "landing" / "2026" / "12" / "04" / "09" / "delivery-1"
    dropped.parent.mkdir(parents=True)
    dropped.write_bytes(gzip.compress(reading(2) + b"\n"))
    assert run(str(tmp_path / "wh")).committed  # no source: the landing zone as it is
    assert timestamps(tmp_path / "wh") == [1, 2]


def test_forget_rewrites_a_gzip_landing_file_as_gzip_without_the_person(tmp_path):
    customer = json.dumps({"email": "gone@x.com", "sharewithresearchasofdate": 1, "serialnumber": "s"}).encode()
    source = landing(tmp_path, {"a.json.gz": gzip.compress(reading(1, "gone@x.com") + b"\n" + reading(2) + b"\n")})
    landing(tmp_path, {"c.json": customer + b"\n"}, source="customer")
    run(str(tmp_path / "wh"), str(source))
    forget(str(tmp_path / "wh"), "GONE@x.com")
    kept = gzip.decompress((tmp_path / "wh" / "accelerometer" / "landing" / "a.json.gz").read_bytes())
    assert kept == reading(2) + b"\n"
    assert timestamps(tmp_path / "wh") == [2]


# ---------------------------------------------------------------------------------------------
# Lines of any length

LIMIT = 100_000


def line_of(size: int, t: int) -> bytes:
    """A valid reading of exactly `size` bytes."""
    short = reading(t, pad="")
    return reading(t, pad="p" * (size - len(short)))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_line_longer_than_the_limit_is_quarantined_with_its_first_characters(tmp_path, engine):
    at_limit, over, far_over = line_of(LIMIT, 2), line_of(LIMIT + 1, 3), b"\xff" + b"g" * (3 * LIMIT)
    data = reading(1) + b"\n" + at_limit + b"\r\n" + over + b"\n" + far_over + b"\r\n" + reading(4)  # no final LF
    source = landing(tmp_path, {"a.json": data, "b.json.gz": gzip.compress(over + b"\n")})
    run(str(tmp_path / "wh"), str(source), engine=engine, max_line_bytes=LIMIT)
    assert timestamps(tmp_path / "wh") == [1, 2, 4]
    reason = f"line longer than {LIMIT} bytes"
    assert quarantined(tmp_path / "wh") == sorted([
        ("accelerometer/landing/a.json", over[:KEPT].decode(), reason),
        ("accelerometer/landing/a.json", far_over[:KEPT].decode(errors="replace"), reason),
        ("accelerometer/landing/b.json.gz", over[:KEPT].decode(), reason),
    ], key=repr)
    assert balanced(tmp_path / "wh")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_line_of_40_megabytes_is_quarantined_under_the_default_limit(tmp_path, engine):
    huge = line_of(40 << 20, 2)
    source = landing(tmp_path, {"a.json": reading(1) + b"\n" + huge + b"\n" + reading(3) + b"\n"})
    run(str(tmp_path / "wh"), str(source), engine=engine)
    assert timestamps(tmp_path / "wh") == [1, 3]
    assert quarantined(tmp_path / "wh") == [("accelerometer/landing/a.json", huge[:KEPT].decode(),
                                             f"line longer than {16 << 20} bytes")]


def test_a_new_limit_rereads_the_landing_zone(tmp_path, monkeypatch):
    source = landing(tmp_path, {"a.json": line_of(LIMIT + 1, 1) + b"\n"})
    run(str(tmp_path / "wh"), str(source), max_line_bytes=LIMIT)
    assert timestamps(tmp_path / "wh") == [] and len(quarantined(tmp_path / "wh")) == 1
    monkeypatch.setenv("STEDI_MAX_LINE_BYTES", str(LIMIT + 1))
    run(str(tmp_path / "wh"))
    assert timestamps(tmp_path / "wh") == [1] and quarantined(tmp_path / "wh") == []
    before = contents(tmp_path / "wh")
    assert run(str(tmp_path / "wh")).committed == [] and contents(tmp_path / "wh") == before


def test_a_limit_that_is_not_a_number_of_bytes_is_one_sentence(tmp_path, capsys, monkeypatch):
    assert main(["run", "--warehouse", str(tmp_path / "wh"), "--max-line-bytes", "0"]) == 1
    assert capsys.readouterr().err == "error: the longest line must be a number of bytes such as 16777216, not 0\n"
    monkeypatch.setenv("STEDI_MAX_LINE_BYTES", "16MB")
    assert main(["run", "--warehouse", str(tmp_path / "wh")]) == 1
    assert capsys.readouterr().err == "error: the longest line must be a number of bytes such as 16777216, not '16MB'\n"
