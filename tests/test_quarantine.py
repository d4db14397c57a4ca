"""A landing line that cannot become a row is quarantined with its reason and file, never lost."""

import pytest
from conftest import rows, scalar

from stedi import run

GOOD = {"user": "a@x.com", "timestamp": 1000, "x": 1.0, "y": -1, "z": 0.5}


def quarantined(warehouse, source="accelerometer"):
    return rows(warehouse, f"SELECT record, reason FROM quarantine WHERE source = '{source}' ORDER BY record")


@pytest.mark.parametrize(
    "line, reason",
    [
        ("not json at all", "not a JSON object"),
        ('{"user": "a@x.com", "timestamp": 1', "not a JSON object"),
        ("[1, 2, 3]", "not a JSON object"),
        ('"just a string"', "not a JSON object"),
        ("   ", "not a JSON object"),
        ('{"user": "a@x.com", "User": "b@x.com", "timestamp": 1, "x": 1, "y": 1, "z": 1}', "duplicate key"),
        ('{"user": "a@x.com", "user": "a@x.com", "timestamp": 1, "x": 1, "y": 1, "z": 1}', "duplicate key"),
        ('{"timestamp": 1, "x": 1, "y": 1, "z": 1}', "missing user"),
        ('{"user": null, "timestamp": 1, "x": 1, "y": 1, "z": 1}', "missing user"),
        ('{"user": "", "timestamp": 1, "x": 1, "y": 1, "z": 1}', "user must be a non-empty string"),
        ('{"user": 42, "timestamp": 1, "x": 1, "y": 1, "z": 1}', "user must be a non-empty string"),
        ('{"user": "a@x.com", "x": 1, "y": 1, "z": 1}', "missing timestamp"),
        ('{"user": "a@x.com", "timestamp": "1000", "x": 1, "y": 1, "z": 1}', "timestamp must be an integer"),
        ('{"user": "a@x.com", "timestamp": 1000.5, "x": 1, "y": 1, "z": 1}', "timestamp must be an integer"),
        ('{"user": "a@x.com", "timestamp": 1e3, "x": 1, "y": 1, "z": 1}', "timestamp must be an integer"),
        ('{"user": "a@x.com", "timestamp": 99999999999999999999, "x": 1, "y": 1, "z": 1}', "timestamp must be an integer"),
        ('{"user": "a@x.com", "timestamp": 1, "x": "1.0", "y": 1, "z": 1}', "x must be a number"),
        ('{"user": "a@x.com", "timestamp": 1, "x": NaN, "y": 1, "z": 1}', "x must be a number"),
        ('{"user": "a@x.com", "timestamp": 1, "x": 1e999, "y": 1, "z": 1}', "x must be a number"),
        ('{"user": "a@x.com", "timestamp": 1, "x": 1, "y": {"v": 1}, "z": 1}', "y must be a number"),
        ('{"user": "a@x.com", "timestamp": 1, "x": 1, "y": 1, "z": true}', "z must be a number"),
        ('{"user": "a@x.com", "timestamp": 1, "x": 1, "y": 1}', "missing z"),
    ],
)
def test_accelerometer_line_is_quarantined_with_its_reason(build, line, reason):
    warehouse = build(accelerometer=[GOOD, line])
    assert quarantined(warehouse) == [(line, reason)]
    assert scalar(warehouse, "SELECT COUNT(*) FROM accelerometer_landing") == 1


def test_the_first_broken_rule_is_the_reason(build):
    warehouse = build(accelerometer=['{"timestamp": "x"}'])
    assert quarantined(warehouse)[0][1] == "missing user"


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"customername": "No Email"}, "missing email"),
        ({"email": ""}, "email must be a non-empty string"),
        ({"email": "a@x.com", "lastUpdateDate": "yesterday"}, "lastupdatedate must be an integer"),
        ({"email": "a@x.com", "shareWithResearchAsOfDate": 1.5}, "sharewithresearchasofdate must be an integer"),
        ({"email": "a@x.com", "serialNumber": 7}, "serialnumber must be a string"),
    ],
)
def test_customer_line_is_quarantined_with_its_reason(build, record, reason):
    warehouse = build(customer=[record])
    assert rows(warehouse, "SELECT reason FROM quarantine WHERE source = 'customer'") == [(reason,)]


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"serialNumber": "s1", "distanceFromObject": 1}, "missing sensorreadingtime"),
        ({"sensorReadingTime": 1, "distanceFromObject": 1}, "missing serialnumber"),
        ({"sensorReadingTime": 1, "serialNumber": 5, "distanceFromObject": 1}, "serialnumber must be a non-empty string"),
        ({"sensorReadingTime": 1, "serialNumber": "s1", "distanceFromObject": "far"}, "distancefromobject must be a number"),
    ],
)
def test_step_trainer_line_is_quarantined_with_its_reason(build, record, reason):
    warehouse = build(step_trainer=[record])
    assert rows(warehouse, "SELECT reason FROM quarantine WHERE source = 'step_trainer'") == [(reason,)]


def test_fields_match_case_insensitively_and_extra_fields_are_ignored(build):
    warehouse = build(
        step_trainer=[{"SensorReadingTime": 5, "SERIALNUMBER": "s1", "distanceFromObject": 2, "firmware": {"v": 1}}]
    )
    assert rows(warehouse, "SELECT * FROM step_trainer_landing") == [(5, "s1", 2.0)]
    assert scalar(warehouse, "SELECT COUNT(*) FROM quarantine") == 0


def test_optional_customer_fields_may_be_absent_or_null(build):
    warehouse = build(customer=[{"email": "a@x.com", "phone": None}])
    assert rows(warehouse, "SELECT email, phone, lastupdatedate FROM customer_landing") == [("a@x.com", None, None)]


def test_typed_values_survive_escapes_unicode_and_extremes(build):
    line = {"user": 'Zoë "Q" \\ Ünïcode@x.com', "timestamp": -9223372036854775808, "x": -0.0, "y": 1e308, "z": 5}
    warehouse = build(accelerometer=[line])
    assert rows(warehouse, "SELECT * FROM accelerometer_landing") == [
        ('Zoë "Q" \\ Ünïcode@x.com', -9223372036854775808, -0.0, 1e308, 5.0)
    ]


def test_quarantine_names_the_file(build):
    warehouse = build(accelerometer=["garbage"])
    assert rows(warehouse, "SELECT file FROM quarantine") == [("accelerometer/landing/accelerometer-0.json",)]


def test_unreadable_bytes_bom_crlf_and_empty_lines(tmp_path):
    landing = tmp_path / "in" / "accelerometer" / "landing"
    landing.mkdir(parents=True)
    good = b'{"user": "a@x.com", "timestamp": 1, "x": 1, "y": 1, "z": 1}'
    (landing / "bom.json").write_bytes(b"\xef\xbb\xbf" + good + b"\r\n\r\n" + good.replace(b"1}", b"2}") + b"\r\n")
    (landing / "latin1.json").write_bytes(b'{"user": "caf\xe9@x.com", "timestamp": 1, "x": 1, "y": 1, "z": 1}\n' + good)
    (landing / "empty.json").write_bytes(b"")
    run(str(tmp_path / "wh"), str(tmp_path / "in"))
    wh = tmp_path / "wh"
    assert scalar(wh, "SELECT COUNT(*) FROM accelerometer_landing") == 3
    assert rows(wh, "SELECT file, reason FROM quarantine") == [("accelerometer/landing/latin1.json", "not valid UTF-8")]
