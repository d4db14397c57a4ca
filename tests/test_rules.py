"""Each table's rule, on small landing data written by the test."""

import hashlib

from conftest import rows, scalar

from stedi.storage.warehouse import Warehouse


def customer(email, updated=1, research=1, serial="shared-1", **more):
    record = {"customerName": email.split("@")[0], "email": email, "phone": "555", "birthDay": "1990-01-01",
              "serialNumber": serial, "registrationDate": 1, "lastUpdateDate": updated,
              "shareWithResearchAsOfDate": research, "shareWithPublicAsOfDate": None}
    return record | more


def phone(email, t, x=0.0):
    return {"user": email, "timestamp": t, "x": x, "y": 1.0, "z": 2.0}


def device(serial, t, distance=100):
    return {"sensorReadingTime": t, "serialNumber": serial, "distanceFromObject": distance}


# -- customer_trusted --------------------------------------------------------------------------

def test_customer_trusted_keeps_only_customers_with_research_consent(build):
    wh = build(customer=[customer("a@x.com"), customer("b@x.com", research=None)])
    assert rows(wh, "SELECT email FROM customer_trusted") == [("a@x.com",)]


def test_newer_record_withdrawing_consent_removes_the_customer(build):
    wh = build(customer=[customer("a@x.com", updated=1, research=1), customer("a@x.com", updated=2, research=None)])
    assert scalar(wh, "SELECT COUNT(*) FROM customer_trusted") == 0


def test_newer_record_granting_consent_brings_the_customer_in_once(build):
    wh = build(customer=[customer("a@x.com", updated=1, research=None), customer("a@x.com", updated=2, research=2)])
    assert rows(wh, "SELECT email, lastupdatedate FROM customer_trusted") == [("a@x.com", 2)]


def test_a_tie_on_last_update_resolves_towards_no_consent(build):
    wh = build(customer=[customer("a@x.com", updated=5, research=1), customer("a@x.com", updated=5, research=None)])
    assert scalar(wh, "SELECT COUNT(*) FROM customer_trusted") == 0


# -- accelerometer_trusted ---------------------------------------------------------------------

def test_accelerometer_trusted_keeps_consenting_customers_readings_once(build):
    wh = build(
        customer=[customer("a@x.com"), customer("b@x.com", research=None)],
        accelerometer=[phone("a@x.com", 10), phone("a@x.com", 10), phone("a@x.com", 10, x=1.0), phone("b@x.com", 10),
                       phone("stranger@x.com", 10)],
    )
    assert rows(wh, 'SELECT "user", "timestamp", x FROM accelerometer_trusted ORDER BY x') == [
        ("a@x.com", 10, 0.0), ("a@x.com", 10, 1.0)]


def test_any_policy_keeps_readings_before_consent(build):
    lines = dict(customer=[customer("a@x.com", research=100)],
                 accelerometer=[phone("a@x.com", 99), phone("a@x.com", 100), phone("a@x.com", 101)])
    assert scalar(build("any", **lines), "SELECT COUNT(*) FROM accelerometer_trusted") == 3


def test_as_of_policy_keeps_readings_at_or_after_consent(build):
    lines = dict(customer=[customer("a@x.com", research=100)],
                 accelerometer=[phone("a@x.com", 99), phone("a@x.com", 100), phone("a@x.com", 101)])
    wh = build("as-of", **lines)
    assert rows(wh, 'SELECT "timestamp" FROM accelerometer_trusted ORDER BY 1') == [(100,), (101,)]


# -- customer_curated --------------------------------------------------------------------------

def test_customer_curated_needs_a_trusted_reading(build):
    wh = build(
        customer=[customer("a@x.com"), customer("b@x.com"), customer("c@x.com", research=50)],
        accelerometer=[phone("a@x.com", 1), phone("c@x.com", 10)],
    )
    assert rows(wh, "SELECT email FROM customer_curated ORDER BY 1") == [("a@x.com",), ("c@x.com",)]
    assert rows(build("as-of", customer=[customer("c@x.com", research=50)], accelerometer=[phone("c@x.com", 10)]),
                "SELECT email FROM customer_curated") == []


# -- device ownership --------------------------------------------------------------------------

def owned_device(serial, email, times, covered):
    """A device with `times` reading times, `covered` of which the phone of `email` shares."""
    return [device(serial, t) for t in range(1000, 1000 + times)], [phone(email, t) for t in range(1000, 1000 + covered)]


def test_device_owner_is_the_customer_whose_phone_shares_its_reading_times(build):
    readings, phones = owned_device("dev-1", "a@x.com", times=10, covered=9)
    wh = build(customer=[customer("a@x.com", serial="shared-1"), customer("b@x.com", serial="dev-1")],
               accelerometer=phones + [phone("b@x.com", 1000)], step_trainer=readings)
    assert rows(wh, "SELECT serialnumber, owner_email, matched_times, total_times, coverage, candidates, "
                    "declared_serial_agrees FROM device_ownership") == [
        ("dev-1", "a@x.com", 9, 10, 0.9, 1, False)]


def test_device_below_90_percent_coverage_is_unresolved(build):
    readings, phones = owned_device("dev-1", "a@x.com", times=10, covered=8)
    wh = build(customer=[customer("a@x.com", serial="dev-1")], accelerometer=phones, step_trainer=readings)
    assert rows(wh, "SELECT owner_email, coverage FROM device_ownership") == [(None, 0.8)]
    assert scalar(wh, "SELECT COUNT(*) FROM step_trainer_trusted") == 0


def test_device_matching_two_customers_is_unresolved(build):
    readings, phones_a = owned_device("dev-1", "a@x.com", times=10, covered=10)
    _, phones_b = owned_device("dev-1", "b@x.com", times=10, covered=10)
    wh = build(customer=[customer("a@x.com"), customer("b@x.com")], accelerometer=phones_a + phones_b,
               step_trainer=readings)
    assert rows(wh, "SELECT owner_email, candidates FROM device_ownership") == [(None, 2)]


def test_owner_must_have_consent_and_declared_serial_is_never_used(build):
    readings, phones = owned_device("dev-1", "nope@x.com", times=5, covered=5)
    wh = build(customer=[customer("nope@x.com", research=None, serial="dev-1"), customer("a@x.com", serial="dev-1")],
               accelerometer=phones + [phone("a@x.com", 1)], step_trainer=readings)
    assert rows(wh, "SELECT owner_email FROM device_ownership") == [(None,)]
    assert scalar(wh, "SELECT COUNT(*) FROM machine_learning_curated") == 0


# -- step_trainer_trusted and machine_learning_curated -----------------------------------------

def two_owners():
    """Two customers with a device each; b's phone also reads at one of a's device times."""
    dev_a, phones_a = owned_device("dev-a", "a@x.com", times=3, covered=3)
    dev_b = [device("dev-b", t) for t in (5000, 5001)]
    phones_b = [phone("b@x.com", t, x=9.0) for t in (5000, 5001, 1000)]
    return dict(customer=[customer("a@x.com"), customer("b@x.com", research=5001)],
                accelerometer=phones_a + phones_b, step_trainer=dev_a + dev_a[:1] + dev_b)


def test_step_trainer_trusted_keeps_owned_devices_readings_once(build):
    wh = build(**two_owners())
    assert scalar(wh, "SELECT COUNT(*) FROM step_trainer_trusted") == 5
    wh_as_of = build("as-of", **two_owners())
    assert rows(wh_as_of, "SELECT serialnumber, sensorreadingtime FROM step_trainer_trusted "
                          "WHERE serialnumber = 'dev-b'") == [("dev-b", 5001)]


def test_machine_learning_curated_pairs_a_device_only_with_its_owners_phone(build):
    wh = build(**two_owners())
    pairs = rows(wh, "SELECT serialnumber, sensorreadingtime, x FROM machine_learning_curated ORDER BY 1, 2")
    assert pairs == [("dev-a", 1000, 0.0), ("dev-a", 1001, 0.0), ("dev-a", 1002, 0.0),
                     ("dev-b", 5000, 9.0), ("dev-b", 5001, 9.0)]


def test_machine_learning_curated_has_a_salted_pseudonym_and_no_identifiers(build):
    wh = build(**two_owners())
    columns, _ = __import__("stedi").query(str(wh), "SELECT * FROM machine_learning_curated")
    assert columns == ["sensorreadingtime", "serialnumber", "distancefromobject", "x", "y", "z", "customer_key"]
    salt = Warehouse.at(wh).salt()
    expected = hashlib.sha256((salt + "a@x.com").encode()).hexdigest()
    assert rows(wh, "SELECT DISTINCT customer_key FROM machine_learning_curated WHERE serialnumber = 'dev-a'") == [
        (expected,)]
    assert expected != hashlib.sha256(b"a@x.com").hexdigest()
