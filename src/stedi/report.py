"""`stedi report`: one self-contained HTML page of a warehouse (inline CSS and SVG, nothing fetched).

Everything on it is read through the public read API (`query`, `maintenance`, `accounting`) and
the table definitions of `schema`, so it works wherever those reach the tables. It shows counts,
checks, serial numbers and file names, never an identifier of a person nor the salt: quarantined
lines are shown with their identifiers masked.
"""

import json
import re
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from .schema import TABLES

if TYPE_CHECKING:
    from .storage.catalog import Tables

DEFAULT_OUT = "stedi-report.html"
SAMPLES_PER_REASON = 3
SAMPLE_CHARS = 160
SNAPSHOTS_SHOWN = 60
TIMELINE_BUILDS = 40
ZONE_COLORS = {"landing": "#e7f0fb", "trusted": "#e6f6ea", "curated": "#f3e8fb", "quality": "#fdf3dc"}
RULE_COLORS = ["#e8a317", "#f5c85c", "#b9770e", "#fae3a6"]
OPERATION_COLORS = {"append": "#2f9e44", "overwrite": "#4c8bd6", "delete": "#d64545"}
BUILT_BY = {"quarantine": "landing.py", "data_quality": "the rules' checks"}  # else contract.py or a rule
STATUS_COLORS = {"passed": "#2f9e44", "failed": "#d64545", "warning": "#e8a317", "not run": "#cbd2d9"}

# Quarantined lines may hold anything: the value of every identifying field (even cut short, as
# in a truncated line) and anything shaped like an email, whatever field or text it is in.
_IDENTIFYING_FIELD = re.compile(r'("(?:customername|email|phone|birthday|user)"\s*:\s*)"(?:[^"\\]|\\.)*"?', re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]*(?:\.[\w-]*)*")
MASK = "•••"


def report(warehouse: "str | Tables", out: str | None = None, **open_options) -> Path:
    """Write the report of `warehouse` (see `open_warehouse`, which `open_options`, catalog and
    database, are passed to) to `out` (default stedi-report.html); return its path."""
    from .accounting import account  # here, not at import: `stedi --help` imports this module
    from .maintenance import history
    from .query import connect_tables, open_warehouse, tables
    from .storage import catalog as ice

    store = open_warehouse(warehouse, **open_options)  # once, for every function below
    infos = tables(store)
    trusted = store.load("customer_trusted", create=False)
    policy = trusted.properties.get(ice.CONSENT_POLICY, "any") if trusted is not None else "any"
    quality = store.load("data_quality", create=False)
    stages = json.loads(quality.properties.get(ice.STAGES, "[]")) if quality is not None else []
    con = connect_tables(store)
    accounts = account(con, policy)
    checks = con.execute("SELECT checked_at, table_name, check_name, violations FROM data_quality").fetchall()
    snapshots = {info.name: history(store, info.name) for info in infos}
    sections = [
        ("funnel", "Where the landing rows went", _funnel(accounts)),
        ("quality", "Data quality", _quality(checks)),
        ("lineage", "Lineage", _lineage(infos)),
        ("quarantine", "Quarantine", _quarantine(con)),
        ("ownership", "Device ownership", _ownership(con)),
        ("history", "Snapshot history", _history(snapshots)),
        ("stages", "Stages of the last build", _stages(stages)),
    ]
    con.close()
    built = max((when for when, *_ in checks), default="never")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(title)}</h2>{html}</section>' for key, title, html in sections)
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>STEDI lakehouse report</title><style>{CSS}</style></head><body><main>"
        f"<header><h1>STEDI lakehouse report</h1><p>warehouse <code>{escape(store.root)}</code> · "
        f"consent policy <b>{escape(policy)}</b> · last build {escape(built)} · written {now}</p>"
        f"{_cards(infos, accounts, checks)}<nav>{nav}</nav></header>{body}</main></body></html>"
    )
    path = Path(out or DEFAULT_OUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def mask(line: str) -> str:
    """`line` with the values of identifying fields, and anything shaped like an email, masked."""
    return _EMAIL.sub(MASK, _IDENTIFYING_FIELD.sub(rf'\1"{MASK}"', line))


def _n(value) -> str:
    return f"{value:,}"


def _when(timestamp: str | None) -> str:
    """An ISO timestamp in UTC, as people read it."""
    return escape(timestamp.replace("T", " ").replace("+00:00", " UTC")) if timestamp else "never"


def _table(columns: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> str:
    """An HTML table; `rows` hold HTML, the columns whose index is in `numeric` align right."""
    def cells(tag, values):
        return "".join(f'<{tag}{" class=n" if i in numeric else ""}>{v}</{tag}>' for i, v in enumerate(values))

    head = cells("th", map(escape, columns))
    return f"<table><thead><tr>{head}</tr></thead><tbody>" + "".join(
        f"<tr>{cells('td', row)}</tr>" for row in rows) + "</tbody></table>"


def _bar(value: int, most: int, color: str = "#9fb3c8") -> str:
    """A small inline bar, `value` of `most`."""
    width = 120 * value / most if most else 0
    return (f'<svg class=bar width="120" height="10" aria-hidden="true"><rect width="{width:.1f}" height="10" '
            f'rx="2" fill="{color}"/></svg>')


def _cards(infos, accounts, checks) -> str:
    latest = _latest(checks)
    statuses = [status for status, _ in latest.values()]
    rows = {info.name: info.rows for info in infos}
    cards = [
        ("landing rows", _n(sum(a.landing_rows for a in accounts)), ""),
        ("kept in trusted", _n(sum(a.kept for a in accounts)), ""),
        ("quarantined lines", _n(rows["quarantine"]), "bad" if rows["quarantine"] else ""),
        ("ML-ready rows", _n(rows["machine_learning_curated"]), ""),
        ("checks passed", f"{statuses.count('passed')} / {len(statuses)}",
         "bad" if "failed" in statuses else "warn" if "warning" in statuses else "ok"),
        ("accounting", "balanced" if all(a.balanced for a in accounts) else "does not balance",
         "ok" if all(a.balanced for a in accounts) else "bad"),
    ]
    return "<div class=cards>" + "".join(
        f'<div class=card><span>{label}</span><b class="{kind}">{value}</b></div>' for label, value, kind in cards
    ) + "</div>"


def _funnel(accounts) -> str:
    """Per source: a stacked bar of landing rows by fate, and the accounting equation in numbers."""
    parts = []
    for acc in accounts:
        fates = [("kept", acc.kept, "#2f9e44"),
                 *((rule, n, RULE_COLORS[i % len(RULE_COLORS)]) for i, (rule, n) in enumerate(acc.left_out.items())),
                 ("quarantined", acc.quarantined, "#d64545")]
        total = max(acc.landing_rows, 1)
        x, rects = 0.0, []
        for name, n, color in fates:
            rects.append(f'<rect x="{x:.2f}" width="{1000 * n / total:.2f}" height="26" fill="{color}">'
                         f"<title>{escape(name)}: {_n(n)}</title></rect>")
            x += 1000 * n / total
        rows = [[f'<span class=swatch style="background:{color}"></span>{escape(name)}',
                 f'<span data-funnel="{acc.source}/{escape(name)}">{_n(n)}</span>',
                 _share(n, total)] for name, n, color in fates]
        unaccounted = acc.landing_rows - acc.kept - sum(acc.left_out.values()) - acc.quarantined
        verdict = ('<span class=ok>balanced ✓</span>' if acc.balanced
                   else f'<span class=bad>does not balance: {_n(unaccounted)} rows unaccounted for</span>')
        parts.append(
            f'<div class=source><h3>{acc.source} <small><span data-funnel="{acc.source}/landing rows">'
            f"{_n(acc.landing_rows)}</span> landing rows · {verdict}</small></h3>"
            f'<svg class=stack viewBox="0 0 1000 26" preserveAspectRatio="none" role="img" '
            f'aria-label="{acc.source} funnel">{"".join(rects)}</svg>'
            + _table(["fate", "rows", "share"], rows, (1, 2)) + "</div>"
        )
    return "<p class=note>Every landing row is kept, left out by a named rule, or quarantined.</p>" + "".join(parts)


def _share(n: int, total: int) -> str:
    return "<0.1%" if 0 < n < total / 1000 else f"{n / total:.1%}"


def _status(violations: int, blocking: bool) -> str:
    return "passed" if violations == 0 else "failed" if blocking else "warning"


def _latest(checks) -> dict[tuple[str, str], tuple[str, int]]:
    """(table, check) -> (status, violations) of its latest result, for every declared check."""
    latest = {}
    for when, table, name, violations in sorted(checks):
        latest[table, name] = (when, violations)
    return {
        (c.table, c.name): (_status(latest[c.table, c.name][1], c.blocking), latest[c.table, c.name][1])
        if (c.table, c.name) in latest else ("not run", 0)
        for t in TABLES.values() for c in t.checks
    }


def _quality(checks) -> str:
    """Every declared check: its latest result and a timeline of its results over the last builds."""
    builds = sorted({when for when, *_ in checks})[-TIMELINE_BUILDS:]
    results = {(when, table, name): violations for when, table, name, violations in checks}
    latest = _latest(checks)
    rows = []
    for table in TABLES.values():
        for c in table.checks:
            status, violations = latest[c.table, c.name]
            cells = []
            for i, when in enumerate(builds):
                found = results.get((when, c.table, c.name))
                state = "not run" if found is None else _status(found, c.blocking)
                label = f"{when}: {state}" + ("" if found is None else f", {_n(found)} violation(s)")
                cells.append(f'<rect x="{i * 12}" width="10" height="12" rx="2" fill="{STATUS_COLORS[state]}">'
                             f"<title>{escape(label)}</title></rect>")
            timeline = (f'<svg data-timeline="{c.table}.{c.name}" width="{max(12 * len(builds), 1)}" height="12">'
                        f'{"".join(cells)}</svg>')
            rows.append([
                f"<code>{c.table}</code>",
                c.name,
                escape(c.description) + ("" if c.blocking else " <small>(warns)</small>"),
                f'<span class="badge {status.replace(" ", "-")}" data-check="{c.table}.{c.name}">{status}</span>',
                _n(violations),
                timeline,
            ])
    statuses = [status for status, _ in latest.values()]
    summary = ", ".join(f"{statuses.count(s)} {s}" for s in STATUS_COLORS if statuses.count(s))
    legend = " ".join(f'<span class=swatch style="background:{color}"></span>{s}' for s, color in STATUS_COLORS.items())
    return (f"<p>Latest result of each check: {summary}. The timeline shows each of the last {len(builds)} "
            f"build(s), oldest first. {legend}</p>"
            + _table(["table", "check", "what must hold", "latest", "violations", "builds"], rows, (4,)))


def _depths() -> dict[str, int]:
    """Each table's column in the lineage graph: one more than its deepest input."""
    depth = {}
    for name, table in TABLES.items():  # TABLES lists every table after its inputs
        depth[name] = 1 + max((depth[i] for i in table.inputs), default=-1)
    depth["data_quality"] = max(depth.values())  # checks every table: drawn at the end
    return depth


def _lineage(infos) -> str:
    """The tables as an SVG graph, one column per depth, colored by zone, edges from their inputs."""
    width, height, gap_x, gap_y = 184, 70, 20, 16
    depth = _depths()
    columns: dict[int, list[str]] = {}
    for name in TABLES:
        columns.setdefault(depth[name], []).append(name)
    place = {}
    for d, names in columns.items():
        for row, name in enumerate(names):
            place[name] = (d * (width + gap_x), row * (height + gap_y))
    info = {i.name: i for i in infos}
    edges, nodes = [], []
    for name, table in TABLES.items():
        x2, y2 = place[name]
        for source in table.inputs:
            x1, y1 = place[source]
            x1, y1, y2m = x1 + width, y1 + height / 2, y2 + height / 2
            mid = (x1 + x2) / 2
            edges.append(f'<path d="M{x1},{y1} C{mid},{y1} {mid},{y2m} {x2 - 4},{y2m}" marker-end="url(#arrow)"/>')
        x, y = place[name]
        rule = f"{table.rule}.sql" if table.rule else BUILT_BY.get(name, "contract.py")
        nodes.append(
            f'<g data-table="{name}" transform="translate({x},{y})">'
            f'<rect width="{width}" height="{height}" rx="8" fill="{ZONE_COLORS[table.zone]}" stroke="#9fb3c8"/>'
            f'<text x="8" y="19" class=name>{name}</text>'
            f'<text x="8" y="36"><tspan data-rows="{name}">{_n(info[name].rows)}</tspan> rows · {table.zone}</text>'
            f'<text x="8" y="51" class=dim>{_when(info[name].last_commit)}</text>'
            f'<text x="8" y="66" class=dim>{escape(rule)}</text></g>'
        )
    svg_w = (max(depth.values()) + 1) * (width + gap_x) - gap_x
    svg_h = max(len(names) for names in columns.values()) * (height + gap_y) - gap_y
    legend = " ".join(f'<span class=swatch style="background:{c}"></span>{z}' for z, c in ZONE_COLORS.items())
    return (
        f"<p>Each table after the tables its rule reads, colored by zone: {legend}. Each node: rows, last commit, "
        "and the file that makes it (rules in <code>src/stedi/rules/</code>).</p>"
        f'<svg class=lineage viewBox="-2 -2 {svg_w + 4} {svg_h + 4}" role="img" aria-label="lineage graph">'
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#829ab1"/></marker></defs>'
        f'<g class=edges>{"".join(edges)}</g>{"".join(nodes)}</svg>'
    )


def _quarantine(con) -> str:
    """Quarantined lines per reason and per file, with a few masked samples of each reason."""
    reasons = con.execute(
        "SELECT source, reason, COUNT(*) FROM quarantine GROUP BY ALL ORDER BY 3 DESC, 1, 2").fetchall()
    if not reasons:
        return "<p>No landing line was quarantined.</p>"
    per_file = con.execute("SELECT file, COUNT(*) FROM quarantine GROUP BY ALL ORDER BY 2 DESC, 1").fetchall()
    samples = con.execute(
        "SELECT source, reason, record FROM quarantine "
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY source, reason ORDER BY file, record) <= $n ORDER BY ALL",
        {"n": SAMPLES_PER_REASON}).fetchall()
    most = reasons[0][2]
    by_reason = _table(["source", "reason", "lines", ""], [
        [s, escape(r), f'<span data-reason="{escape(s)}: {escape(r)}">{_n(n)}</span>', _bar(n, most, "#d64545")]
        for s, r, n in reasons], (2,))
    by_file = _table(["file", "lines", ""], [
        [f"<code>{escape(f)}</code>", _n(n), _bar(n, per_file[0][1], "#d64545")] for f, n in per_file], (1,))
    grouped: dict[tuple[str, str], list[str]] = {}
    for source, reason, record in samples:
        grouped.setdefault((source, reason), []).append(f"<pre>{escape(_cut(mask(record)))}</pre>")
    shown = "".join(f"<div class=sample><small>{escape(s)} · {escape(r)}</small>{''.join(lines)}</div>"
                    for (s, r), lines in grouped.items())
    return (f'<div class=grid2><div><h3>per reason</h3>{by_reason}</div><div><h3>per file</h3>{by_file}</div></div>'
            f"<h3>samples (identifiers masked as {MASK})</h3><div class=grid2>{shown}</div>")


def _cut(text: str) -> str:
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "…"


def _ownership(con) -> str:
    """Devices resolved, unresolved and contested; owner coverage; declared serials that disagree."""
    devices, resolved, unresolved, contested, disagree = con.execute(
        "SELECT COUNT(*), COUNT(owner_email), COUNT(*) FILTER (candidates = 0), COUNT(*) FILTER (candidates > 1), "
        "COUNT(*) FILTER (declared_serial_agrees = false) FROM device_ownership").fetchone()
    if not devices:
        return "<p>No device reading has been read yet.</p>"
    bins = dict(con.execute(
        "SELECT LEAST(FLOOR(coverage * 10), 9)::INT, COUNT(*) FROM device_ownership GROUP BY ALL").fetchall())
    most = max(bins.values())
    bars = []
    for b in range(10):
        n = bins.get(b, 0)
        h = 110 * n / most
        bars.append(f'<g transform="translate({b * 52 + 40},0)"><rect y="{130 - h:.1f}" width="44" height="{h:.1f}" '
                    f'fill="{"#2f9e44" if b == 9 else "#9fb3c8"}"><title>{b * 10}–{b * 10 + 10}%: {n} device(s)'
                    f'</title></rect><text x="22" y="{max(126 - h, 10):.1f}" class=mid>{n}</text>'
                    f'<text x="22" y="146" class=mid>{b * 10}%</text></g>')
    histogram = (f'<svg class=histogram viewBox="0 0 570 152" role="img" aria-label="owner coverage histogram">'
                 f'<line x1="40" x2="560" y1="130" y2="130" stroke="#9fb3c8"/>{"".join(bars)}'
                 '<line x1="508" x2="508" y1="0" y2="130" stroke="#d64545" stroke-dasharray="4 3"/>'
                 '<text x="504" y="10" class=end>90%: resolves</text></svg>')
    unresolved_devices = con.execute(
        "SELECT serialnumber, coverage, candidates FROM device_ownership WHERE owner_email IS NULL "
        "ORDER BY candidates DESC, coverage DESC, serialnumber LIMIT 8").fetchall()
    listed = _table(["device", "best coverage", "customers ≥ 90%"], [
        [f"<code>{escape(s)}</code>", f"{c:.0%}", str(k)] for s, c, k in unresolved_devices], (1, 2))
    cards = [("devices", "devices", devices, ""), ("resolved", "resolved owner", resolved, "ok"),
             ("unresolved", "unresolved (no customer ≥ 90%)", unresolved, "warn" if unresolved else ""),
             ("contested", "contested (several ≥ 90%)", contested, "warn" if contested else ""),
             ("disagree", "declared serial disagrees with the owner", disagree, "warn" if disagree else "")]
    return (
        "<div class=cards>" + "".join(
            f'<div class=card><span>{label}</span><b class="{kind}" data-ownership="{key}">{_n(n)}</b></div>'
            for key, label, n, kind in cards) + "</div>"
        "<p class=note>A device's owner is the one trusted customer whose phone shares at least 90% of its reading "
        "times; the serial number customers declared is never used (the serial defect: "
        f"{_n(disagree)} of {_n(resolved)} owners declared another device).</p>"
        f"<div class=grid2><div><h3>owner coverage (best customer's share of reading times)</h3>{histogram}</div>"
        f"<div><h3>unresolved devices (first {len(unresolved_devices)})</h3>{listed}</div></div>"
    )


def _history(snapshots) -> str:
    """Per table: its snapshots as a strip, oldest first (hover one for its numbers), and totals."""
    rows = []
    for name, shots in snapshots.items():
        marks = "".join(
            f'<rect x="{i * 9}" width="7" height="12" rx="1" fill="{OPERATION_COLORS.get(s.operation, "#9aa5b1")}">'
            f"<title>{escape(s.committed_at)} {s.operation}: +{_n(s.added_rows)} −{_n(s.deleted_rows)} → "
            f"{_n(s.total_rows)} rows</title></rect>" for i, s in enumerate(shots[-SNAPSHOTS_SHOWN:]))
        strip = f'<svg width="{9 * min(len(shots), SNAPSHOTS_SHOWN)}" height="12">{marks}</svg>'
        rows.append([f"<code>{name}</code>", f'<span data-snapshots="{name}">{_n(len(shots))}</span>', strip,
                     _n(sum(s.added_rows for s in shots)), _n(sum(s.deleted_rows for s in shots)),
                     _n(shots[-1].total_rows if shots else 0), _when(shots[-1].committed_at if shots else None)])
    legend = " ".join(f'<span class=swatch style="background:{c}"></span>{o}' for o, c in OPERATION_COLORS.items())
    return (f"<p>Every commit of every table still kept (the last {SNAPSHOTS_SHOWN} drawn): {legend}.</p>"
            + _table(["table", "snapshots", "commits, oldest first", "rows added", "rows deleted", "rows now",
                      "last commit"], rows, (1, 3, 4, 5)))


def _stages(stages) -> str:
    """The stages of the last run that built a table, with how long each took."""
    if not stages:
        return "<p>No run has recorded its stage timings yet.</p>"
    longest = max(seconds for _, seconds in stages) or 1
    rows = [[f'<span data-stage="{i}">{escape(stage)}</span>', f"{seconds:.2f} s", _bar_wide(seconds / longest)]
            for i, (stage, seconds) in enumerate(stages)]
    total = sum(seconds for _, seconds in stages)
    return f"<p>{len(stages)} stage(s), {total:.2f} s in all.</p>" + _table(["stage", "time", ""], rows, (1,))


def _bar_wide(share: float) -> str:
    return (f'<svg class=wide viewBox="0 0 300 10" preserveAspectRatio="none" aria-hidden="true">'
            f'<rect width="{300 * share:.1f}" height="10" rx="2" fill="#4c8bd6"/></svg>')


CSS = """
:root { --ink: #1f2933; --muted: #627d98; --line: #e4e7eb; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #f5f7fa; color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
h3 small, small { color: var(--muted); font-weight: normal; }
header p { color: var(--muted); margin: 0 0 14px; }
code, pre { font: .86em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
nav { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 14px 0 0; }
nav a { color: #2f6fbf; text-decoration: none; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px 20px;
          margin: 16px 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
.n { text-align: right; white-space: nowrap; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 8px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; }
.card span { color: var(--muted); font-size: 12px; display: block; }
.card b { font-size: 22px; font-variant-numeric: tabular-nums; }
.ok { color: #2f9e44; } .bad { color: #d64545; } .warn { color: #b7791f; }
.note { color: var(--muted); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 5px 0 2px;
          box-shadow: inset 0 0 0 1px rgba(0, 0, 0, .2); }
.source { margin: 0 0 18px; }
.source h3 { font-size: 15px; }
.source table { max-width: 720px; }
.stack { width: 100%; height: 26px; display: block; border-radius: 4px; margin: 4px 0 6px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 9px; font-size: 12px; color: #fff; }
.badge.passed { background: #2f9e44; } .badge.failed { background: #d64545; }
.badge.warning { background: #e8a317; } .badge.not-run { background: #9aa5b1; }
.lineage { width: 100%; height: auto; }
.lineage text { font-size: 11px; fill: var(--ink); }
.lineage text.name { font-size: 11.5px; font-weight: 600; }
.lineage text.dim { fill: var(--muted); font-size: 10.5px; }
.lineage .edges path { fill: none; stroke: #829ab1; stroke-width: 1.3; }
.histogram { width: 100%; max-width: 570px; }
.histogram text { font-size: 11px; fill: var(--ink); }
.histogram .mid { text-anchor: middle; } .histogram .end { text-anchor: end; fill: #d64545; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 24px; }
.sample { margin: 0 0 10px; }
.sample pre { background: #f5f7fa; border-radius: 6px; padding: 4px 8px; margin: 2px 0;
              white-space: pre-wrap; word-break: break-all; }
svg.bar { vertical-align: middle; }
svg.wide { width: 100%; height: 10px; display: block; }
@media (max-width: 860px) { .grid2 { grid-template-columns: 1fr; } }
@media print {
  body { background: #fff; font-size: 11px; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  section { border: none; padding: 0; margin: 0 0 14px; break-inside: avoid-page; }
  .card { border-color: #cbd2d9; }
  tr, .sample, .source { break-inside: avoid; }
}
"""
