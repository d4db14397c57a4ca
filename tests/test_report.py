"""`stedi report`: one self-contained HTML page of a warehouse, checked as headless Chromium renders it."""

import json
import re
import shutil
import subprocess
from html import unescape

import pytest
from conftest import FIXED_SALT, REAL_DATA, rows, scalar, write_landing

from stedi import report, run
from stedi.accounting import account
from stedi.cli import main
from stedi.maintenance import history
from stedi.query import connect_tables, open_warehouse, tables
from stedi.report import mask
from stedi.schema import TABLES
from stedi.storage import catalog as ice

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
FUTURE = 4102444800001  # just after 2100: accelerometer_trusted's plausible_timestamps check warns


@pytest.fixture(scope="module")
def built(generated, tmp_path_factory, salted):
    """A warehouse of the generated data after two builds (the second appends a reading from after
    2100), the result of the second with its progress messages, and its report."""
    landing, truth = generated
    folder = tmp_path_factory.mktemp("report")
    warehouse = str(folder / "wh")
    run(warehouse, str(landing))
    owner = min(truth["device_owner"].values())
    write_landing(folder / "more", accelerometer=[{"user": owner, "timestamp": FUTURE, "x": 1, "y": 2, "z": 3}])
    messages = []
    second = run(warehouse, str(folder / "more"), progress=messages.append)
    return warehouse, (second, messages), report(warehouse, str(folder / "report.html"))


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """browse(page, *options) -> what headless Chromium prints (`make setup-dev` installs Debian's chromium)."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed and `make setup-dev` could not install it")
    profile = tmp_path_factory.mktemp("chromium-profile")

    def browse(page, *options):
        done = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", f"--user-data-dir={profile}", *options, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return browse


@pytest.fixture(scope="module")
def rendered(built, chromium) -> str:
    """The page's DOM as Chromium renders it."""
    return chromium(built[2], "--dump-dom")


@pytest.fixture(scope="module")
def dom(rendered):
    return elements(rendered)


def elements(rendered: str) -> dict[tuple[str, str], str]:
    """{(kind, key): text} of every element of a rendered page marked data-KIND="KEY"."""
    return {(kind, unescape(key)): unescape(text)
            for kind, key, text in re.findall(r'data-(\w+)="([^"]*)"[^>]*>([^<]*)<', rendered)}


def marked(dom, kind: str) -> dict[str, str]:
    return {key: text for (k, key), text in dom.items() if k == kind}


def identifiers(warehouse) -> set[str]:
    """Every email, name, phone and birthday the landing zone holds."""
    return {value for row in rows(warehouse, "SELECT email, customername, phone, birthday FROM customer_landing")
            for value in row if value}


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_page_is_one_file_that_fetches_nothing(built):
    page = built[2].read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<style>" in page
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\((?!#)|src=|https?://", page)
    assert "@media print" in page


def funnel_is_the_accounting(dom, accounts) -> bool:
    """Whether the page's funnel shows, per source, exactly the landing rows and where they went."""
    shown = {key: number(text) for key, text in marked(dom, "funnel").items()}
    return shown == {f"{acc.source}/{fate}": n for acc in accounts for fate, n in [
        ("landing rows", acc.landing_rows), ("kept", acc.kept), *acc.left_out.items(), ("quarantined", acc.quarantined)]}


def test_the_funnel_shows_the_accounting_of_each_source(built, dom):
    accounts = account(connect_tables(built[0]), "any")
    assert all(acc.balanced for acc in accounts)
    assert funnel_is_the_accounting(dom, accounts)


def test_every_declared_check_is_listed_with_its_latest_result(dom):
    statuses = marked(dom, "check")
    assert set(statuses) == {f"{t.name}.{c.name}" for t in TABLES.values() for c in t.checks}
    assert statuses.pop("accelerometer_trusted.plausible_timestamps") == "warning"
    assert set(statuses.values()) == {"passed"}


def test_each_check_has_a_timeline_of_every_build(rendered):
    def timeline(check):
        svg = re.search(rf'data-timeline="{check}".*?</svg>', rendered)[0]
        return [title.split(": ")[1].split(",")[0] for title in re.findall(r"<title>([^<]*)</title>", svg)]

    assert timeline("accelerometer_trusted.plausible_timestamps") == ["passed", "warning"]
    assert timeline("customer_trusted.consent") == ["passed", "not run"]  # not rebuilt by the second build


def test_the_lineage_graph_holds_every_table_with_its_rows(built, dom):
    assert {name: number(text) for name, text in marked(dom, "rows").items()} == {
        t.name: t.rows for t in tables(built[0])}


def test_quarantine_counts_per_reason(built, dom):
    counted = dict(rows(built[0], "SELECT source || ': ' || reason, COUNT(*) FROM quarantine GROUP BY ALL"))
    assert {reason: number(n) for reason, n in marked(dom, "reason").items()} == counted


def test_device_ownership_health(built, dom):
    def count(where):
        return scalar(built[0], f"SELECT COUNT(*) FROM device_ownership WHERE {where}")

    assert {key: number(n) for key, n in marked(dom, "ownership").items()} == {
        "devices": count("true"), "resolved": count("owner_email IS NOT NULL"), "unresolved": count("candidates = 0"),
        "contested": count("candidates > 1"), "disagree": count("NOT declared_serial_agrees")}
    assert count("NOT declared_serial_agrees") > 0  # the serial defect is planted in the generated data


def test_snapshot_history_counts_every_commit(built, dom):
    assert {name: number(n) for name, n in marked(dom, "snapshots").items()} == {
        name: len(history(built[0], name)) for name in TABLES}


def test_each_progress_message_starts_a_stage_of_the_run(built):
    second, messages = built[1]
    assert [stage for stage, _ in second.stages] == ["ingesting new landing files", *messages]
    assert "appending to accelerometer_trusted what accelerometer_landing added" in messages
    assert all(seconds >= 0 for _, seconds in second.stages)


def test_the_stages_of_the_last_build_are_kept_in_the_catalog_and_shown(built, dom):
    warehouse, (second, _), _ = built
    properties = open_warehouse(warehouse).load("data_quality").properties
    assert json.loads(properties[ice.STAGES]) == [list(stage) for stage in second.stages]
    assert list(marked(dom, "stage").values()) == [stage for stage, _ in second.stages]


def test_a_run_that_builds_nothing_keeps_the_timings_of_the_last_build(built):
    warehouse, (second, _), _ = built
    assert run(warehouse).committed == []
    properties = open_warehouse(warehouse).load("data_quality").properties
    assert json.loads(properties[ice.STAGES]) == [list(stage) for stage in second.stages]


def test_no_email_no_identifier_and_no_salt_in_the_page(built, rendered):
    for shown in (built[2].read_text(), rendered):
        assert not EMAIL.search(shown)
        assert FIXED_SALT not in shown
        assert not [value for value in identifiers(built[0]) if value in shown]


def test_quarantine_samples_are_shown_masked(built, rendered):
    samples = re.findall(r"<pre>([^<]*)</pre>", rendered)
    quarantined = scalar(built[0], "SELECT COUNT(DISTINCT source || reason) FROM quarantine")
    assert len(samples) >= quarantined
    assert any('"customerName": "•••", "email": "•••", "phone": "•••", "birthDay": "•••"' in s for s in samples)


@pytest.mark.parametrize("line, masked", [
    ('{"customerName": "Lyn Clayton", "email": "Lyn.Clayton0@test.com", "phone": "8015551212"}',
     '{"customerName": "•••", "email": "•••", "phone": "•••"}'),
    ('{"CUSTOMERNAME":"Lyn Clayton","BirthDay":"1954-01-01","serialNumber":"dev-1"}',
     '{"CUSTOMERNAME":"•••","BirthDay":"•••","serialNumber":"dev-1"}'),
    ('{"user":"Lyn.Clayton0@test.com","timestamp":1', '{"user":"•••","timestamp":1'),
    ('{"customerName": "Lyn Clay', '{"customerName": "•••"'),  # cut short
    ('{"customerName": "Lyn \\"the\\" Clayton", "x": 1}', '{"customerName": "•••", "x": 1}'),
    ("Lyn Clayton,Lyn.Clayton0@test.com,1954-01-01", "Lyn Clayton,•••,1954-01-01"),  # no field: its email alone
    ('{"email": "Lyn.Clayton0@test.', '{"email": "•••"'),
    ('"note": "write to Lyn.Clayton0@test.com"', '"note": "write to •••"'),
])
def test_mask(line, masked):
    assert mask(line) == masked


def test_the_page_renders_and_prints(built, chromium, request):
    kept = request.config.cache.mkdir("stedi-report")  # the artifacts, kept after the run
    screenshot, pdf = kept / "report.png", kept / "report.pdf"
    chromium(built[2], f"--screenshot={screenshot}", "--window-size=1280,2000", "--hide-scrollbars")
    chromium(built[2], f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 50_000
    printed = pdf.read_bytes()
    assert printed.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", printed)) >= 2


def test_the_command_writes_the_page(built, tmp_path, capsys, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    out = tmp_path / "reports" / "page.html"  # its folder is made
    assert main(["report", "--warehouse", built[0], "--out", str(out), "--open"]) == 0
    assert capsys.readouterr().out == f"wrote the report to {out}\n"
    assert opened == [out.as_uri()] and "STEDI lakehouse report" in out.read_text()


def test_run_report_writes_the_page_after_the_run(built, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--warehouse", built[0], "--report", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out.endswith("wrote the report to stedi-report.html\n") and err == ""
    assert (tmp_path / "stedi-report.html").exists()


def test_a_warehouse_that_does_not_exist_is_one_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--warehouse", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not a stedi warehouse yet" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("source", [None, REAL_DATA], ids=["built-in sample", "public sample"])
def test_the_page_shows_the_numbers_of_the_run_summary(source, tmp_path, monkeypatch, capsys, chromium, salted):
    if source is not None and not source.is_dir():
        pytest.skip(f"the public STEDI sample is not at {source}")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--warehouse", "wh", "--report", "--quiet", *(["--source", str(source)] if source else [])]) == 0
    summary = [line for line in capsys.readouterr().out.splitlines() if " landing rows = " in line]
    rendered = chromium(tmp_path / "stedi-report.html", "--dump-dom")
    funnel = {key: number(text) for key, text in marked(elements(rendered), "funnel").items()}
    assert [line.split(":")[0] for line in summary] == ["customer", "accelerometer", "step_trainer"]
    for line in summary:  # e.g. "customer: 228 landing rows = 170 kept + 20 superseded by ... + 8 quarantined"
        name, equation = line.split(": ", 1)
        landing, parts = equation.split(" landing rows = ")
        assert funnel[f"{name}/landing rows"] == int(landing)
        for part in parts.split(" + "):
            n, fate = part.split(" ", 1)
            assert funnel[f"{name}/{fate}"] == int(n)
    assert not EMAIL.search(rendered) and FIXED_SALT not in rendered
    assert not [value for value in identifiers(tmp_path / "wh") if value in rendered]


def test_the_report_of_a_warehouse_on_s3_reads_it_through_the_catalog(bucket, tmp_path, salted):
    options = {"catalog": "glue", "database": bucket.replace("-", "_")}
    warehouse = f"s3://{bucket}/lakehouse"
    run(warehouse, **options)  # the built-in sample
    out = tmp_path / "report.html"
    assert main(["report", "--warehouse", warehouse, "--catalog", "glue", "--database", options["database"],
                 "--out", str(out)]) == 0
    page = elements(out.read_text())
    assert funnel_is_the_accounting(page, account(connect_tables(warehouse, **options), "any"))
    assert marked(page, "stage") and set(marked(page, "rows")) == set(TABLES)
