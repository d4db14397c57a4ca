"""Data-quality checks run after each build; a failing blocking check stops that table's commit."""

from dataclasses import replace

import pytest
from conftest import rows, scalar, write_landing

from stedi import run, schema
from stedi.cli import main
from stedi.pipeline import CheckFailed

CUSTOMERS = [{"email": "a@x.com", "lastUpdateDate": 1_600_000_000_000, "shareWithResearchAsOfDate": 1_600_000_000_000},
             {"email": "b@x.com", "lastUpdateDate": 1_600_000_000_000}]
READINGS = [{"user": "a@x.com", "timestamp": 1_655_000_000_000, "x": 1, "y": 1, "z": 1}]


def test_every_check_runs_and_its_result_is_stored(build):
    wh = build(customer=CUSTOMERS, accelerometer=READINGS)
    stored = rows(wh, "SELECT table_name || '.' || check_name, violations FROM data_quality")
    declared = [f"{t.name}.{c.name}" for t in schema.TABLES.values() for c in t.checks]
    assert len(declared) >= 15
    assert sorted(stored) == sorted((name, 0) for name in declared)


def test_a_warning_is_reported_but_does_not_block(tmp_path, capsys):
    landing = write_landing(tmp_path / "in", customer=CUSTOMERS,
                            accelerometer=READINGS + [READINGS[0] | {"timestamp": 1_900_000_000_000_000}])
    assert main(["run", "--source", str(landing), "--warehouse", str(tmp_path / "wh")]) == 0
    assert "warning accelerometer_trusted.plausible_timestamps: 1 rows" in capsys.readouterr().out
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM accelerometer_trusted") == 2


@pytest.fixture
def rule_without_consent_filter(monkeypatch):
    """customer_trusted with its consent condition removed: a broken rule the checks must catch."""
    original = schema._rule_file

    def broken(rule):
        rule_file = original(rule)
        if rule == "customer_trusted":
            return replace(rule_file, sql=rule_file.sql.replace("AND sharewithresearchasofdate IS NOT NULL", ""))
        return rule_file

    monkeypatch.setattr(schema, "_rule_file", broken)


def test_a_failing_blocking_check_keeps_the_previous_snapshot(tmp_path, rule_without_consent_filter):
    landing = write_landing(tmp_path / "in", customer=CUSTOMERS, accelerometer=READINGS)
    with pytest.raises(CheckFailed, match="customer_trusted failed its check consent"):
        run(str(tmp_path / "wh"), str(landing))
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM customer_trusted") == 0
    assert rows(tmp_path / "wh", "SELECT violations FROM data_quality WHERE check_name = 'consent'") == [(1,)]
    assert scalar(tmp_path / "wh", "SELECT COUNT(*) FROM machine_learning_curated") == 0


def test_the_command_exits_non_zero_naming_the_check(tmp_path, capsys, rule_without_consent_filter):
    landing = write_landing(tmp_path / "in", customer=CUSTOMERS)
    assert main(["run", "--source", str(landing), "--warehouse", str(tmp_path / "wh")]) == 1
    err = capsys.readouterr().err
    assert "error: customer_trusted failed its check consent (1 rows" in err and "Traceback" not in err
