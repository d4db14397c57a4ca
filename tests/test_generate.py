"""The landing-data generator keeps its promises: layout, determinism, planted defects, ground truth.

Every check reads the files the generator wrote and recomputes what it needs in plain Python, so
the ground truth is tested against the data rather than against the generator's own bookkeeping.
"""

import importlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from stedi.generate import POLICIES, SOURCES, TABLES, generate

gen = importlib.import_module("stedi.generate")  # the module (the package exports the function)

KEYS = {
    "customer": {
        "customerName", "email", "phone", "birthDay", "serialNumber", "registrationDate",
        "lastUpdateDate", "shareWithResearchAsOfDate", "shareWithPublicAsOfDate", "shareWithFriendsAsOfDate",
    },
    "accelerometer": {"user", "timestamp", "x", "y", "z"},
    "step_trainer": {"sensorReadingTime", "serialNumber", "distanceFromObject"},
}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """(folder, ground truth) of 50 customers."""
    folder = tmp_path_factory.mktemp("small")
    return folder, generate(folder, customers=50, seed=1)


# -- reading the files back --------------------------------------------------------------------

def lines(root: Path, source: str) -> list[str]:
    out = []
    for path in sorted((root / source / "landing").glob("*.json")):
        text = path.read_text()
        assert text.endswith("\n")
        out += text[:-1].split("\n")
    return out


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse(source: str, line: str) -> dict | None:
    """The line as a dict with lower-case keys and nulls dropped, or None when it is quarantined."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    row = {key.lower(): value for key, value in obj.items() if value is not None}
    if source == "customer":
        ok = isinstance(row.get("email"), str) and row["email"] != ""
        ok = ok and all(_is_int(value) for key, value in row.items() if key.endswith("date"))
    elif source == "accelerometer":
        ok = isinstance(row.get("user"), str) and _is_int(row.get("timestamp"))
        ok = ok and all(_is_number(row.get(axis)) for axis in "xyz")
    else:
        ok = _is_int(row.get("sensorreadingtime")) and isinstance(row.get("serialnumber"), str)
        ok = ok and _is_number(row.get("distancefromobject"))
    return row if ok else None


def load(root: Path) -> dict:
    """Valid rows per source, and the number of quarantined lines."""
    valid, quarantined = {}, {}
    for source in SOURCES:
        parsed = [parse(source, line) for line in lines(root, source)]
        valid[source] = [row for row in parsed if row is not None]
        quarantined[source] = parsed.count(None)
    return {"rows": valid, "quarantined": quarantined}


def recompute(root: Path) -> dict:
    """Every table of the lakehouse, by its rules, in plain Python."""
    data = load(root)
    customers, phones, devices = (data["rows"][s] for s in SOURCES)
    latest = {}
    for rec in customers:
        if rec["email"] not in latest or rec["lastupdatedate"] > latest[rec["email"]]["lastupdatedate"]:
            latest[rec["email"]] = rec
    consent = {e: r["sharewithresearchasofdate"] for e, r in latest.items() if "sharewithresearchasofdate" in r}

    readings = {(r["user"], r["timestamp"], r["x"], r["y"], r["z"]) for r in phones}
    phone_times = defaultdict(set)
    for user, ts, *_ in readings:
        if user in consent:
            phone_times[user].add(ts)
    device_times = defaultdict(set)
    for r in devices:
        device_times[r["serialnumber"]].add(r["sensorreadingtime"])
    owner = {}
    for serial, times in device_times.items():
        candidates = [user for user, mine in phone_times.items() if len(times & mine) >= 0.9 * len(times)]
        owner[serial] = candidates[0] if len(candidates) == 1 else None

    out = {"rows": {}, "customer_curated": {}, "customer_trusted": sorted(consent)}
    out["device_owner"] = {serial: email for serial, email in sorted(owner.items()) if email}
    out["unresolved_devices"] = sorted(serial for serial, email in owner.items() if not email)
    for policy in POLICIES:
        def kept(user, ts):
            return policy == "any" or ts >= consent[user]

        acc = {r for r in readings if r[0] in consent and kept(r[0], r[1])}
        curated = {r[0] for r in acc}
        per_time = Counter((r[0], r[1]) for r in acc)
        steps = {(r["sensorreadingtime"], r["serialnumber"], r["distancefromobject"]) for r in devices}
        steps = {s for s in steps if owner[s[1]] in curated and kept(owner[s[1]], s[0])}
        out["customer_curated"][policy] = sorted(curated)
        out["rows"][policy] = {
            "customer_landing": len(customers),
            "accelerometer_landing": len(phones),
            "step_trainer_landing": len(devices),
            "customer_trusted": len(consent),
            "accelerometer_trusted": len(acc),
            "customer_curated": len(curated),
            "step_trainer_trusted": len(steps),
            "machine_learning_curated": sum(per_time[owner[serial], ts] for ts, serial, _ in steps),
        }
    out["_data"], out["_phone_times"], out["_device_times"], out["_latest"] = data, phone_times, device_times, latest
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- the promises ------------------------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = generate(tmp_path / "a", customers=30, seed=5)
    generate(tmp_path / "b", customers=30, seed=5)
    generate(tmp_path / "c", customers=30, seed=6)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert snapshot(tmp_path / "a") != snapshot(tmp_path / "c")
    assert json.loads((tmp_path / "a" / "ground_truth.json").read_text()) == a


def test_layout_keys_and_types_mimic_the_sample(small):
    root, truth = small
    names = {p.name for p in root.rglob("*.json")}
    assert names == {
        "ground_truth.json", "customer-1.json", "accelerometer-1.json", "step_trainer-1.json",
        "customer-malformed.json", "accelerometer-malformed.json", "step_trainer-malformed.json",
    }
    assert set(truth) >= {
        "seed", "customers", "lines", "quarantined", "rows", "customer_trusted", "customer_curated",
        "device_owner", "unresolved_devices", "declared_serials_shared",
    }
    assert all(set(truth["rows"][policy]) == set(TABLES) for policy in POLICIES)
    for source in SOURCES:
        path = root / source / "landing" / f"{source}-1.json"
        for line in path.read_text().splitlines():
            obj = json.loads(line)
            if source == "customer":
                assert obj.keys() <= KEYS[source] or obj.keys() <= {k.lower() for k in KEYS[source]}
            else:
                assert obj.keys() == KEYS[source]
    first = (root / "accelerometer/landing/accelerometer-1.json").read_text().splitlines()[0]
    assert re.fullmatch(r'\{"user":"[^"]+@test\.com","timestamp":\d{13},"x":-?\d\.0,"y":-?\d\.0,"z":-?\d\.0\}', first)
    first = (root / "step_trainer/landing/step_trainer-1.json").read_text().splitlines()[0]
    assert re.fullmatch(r'\{"sensorReadingTime":\d{13},"serialNumber":"[0-9a-f-]{36}","distanceFromObject":\d+\}', first)
    first = (root / "customer/landing/customer-1.json").read_text().splitlines()[0]
    assert first.startswith('{"customername": "') or first.startswith('{"customerName": "')


def test_line_counts_match_ground_truth(small):
    root, truth = small
    assert {source: len(lines(root, source)) for source in SOURCES} == truth["lines"]
    assert all(line.strip() for source in SOURCES for line in lines(root, source))


def test_every_malformed_line_is_counted(small):
    root, truth = small
    assert load(root)["quarantined"] == truth["quarantined"]
    for source in SOURCES:
        bad = [line for line in lines(root, source) if parse(source, line) is None]
        assert any(not line.startswith(("{", "[")) for line in bad)  # not JSON at all
        assert any(line.startswith("{") and not line.endswith("}") for line in bad)  # truncated
        assert any(line.startswith("[") for line in bad)
        assert any(": null" in line or ":null" in line for line in bad)
    bad_customers = [line for line in lines(root, "customer") if parse("customer", line) is None]
    assert any('"email": ""' in line for line in bad_customers)
    assert any('"lastUpdateDate": "' in line for line in bad_customers)
    bad_phones = [line for line in lines(root, "accelerometer") if parse("accelerometer", line) is None]
    assert any('"timestamp":"' in line for line in bad_phones) and any('"x":"' in line for line in bad_phones)


def test_a_customer_line_uses_lower_case_keys(small):
    root, _ = small
    assert any('"serialnumber": ' in line for line in lines(root, "customer"))


@pytest.mark.parametrize("customers,seed,readings", [(50, 1, 30), (45, 7, 3), (40, 2, 2)])
def test_ground_truth_matches_an_independent_recomputation(tmp_path, customers, seed, readings):
    truth = generate(tmp_path, customers=customers, seed=seed, readings_per_device=readings)
    mine = recompute(tmp_path)
    for key in ("rows", "customer_trusted", "customer_curated", "device_owner", "unresolved_devices"):
        assert mine[key] == truth[key], key
    assert mine["_data"]["quarantined"] == truth["quarantined"]


def test_every_scenario_is_present(small):
    root, truth = small
    mine = recompute(root)
    by_email = defaultdict(list)
    for rec in mine["_data"]["rows"]["customer"]:
        by_email[rec["email"]].append(rec)
    phone_times, device_times = mine["_phone_times"], mine["_device_times"]
    all_phone_times = defaultdict(set)
    for r in mine["_data"]["rows"]["accelerometer"]:
        all_phone_times[r["user"]].add(r["timestamp"])
    seen = Counter()
    for email, recs in by_email.items():
        consents = ["sharewithresearchasofdate" in r for r in sorted(recs, key=lambda r: r["lastupdatedate"])]
        if consents == [True, False]:
            seen["consent_withdrawn"] += 1
        elif consents == [False, True]:
            seen["consent_granted"] += 1
        elif consents == [False]:
            seen["never_consented"] += 1 if all_phone_times[email] else 0
        elif not phone_times[email]:
            seen["device_only"] += 1
        else:
            mine_times = phone_times[email]
            coverage, times = max((len(t & mine_times) / len(t), t) for t in device_times.values())
            if coverage >= 0.9:
                late = recs[0]["sharewithresearchasofdate"] > min(times)
                seen["late_consent" if late else "consenting"] += 1
            else:
                seen["partial_coverage" if coverage >= 0.3 else "phone_only"] += 1
    assert seen == truth["scenarios"]
    assert set(seen) == set(gen.PATTERN)
    assert truth["rows"]["as-of"]["accelerometer_trusted"] < truth["rows"]["any"]["accelerometer_trusted"]


def test_most_customers_declare_one_of_a_few_shared_serials(small):
    root, truth = small
    mine = recompute(root)
    shared = truth["declared_serials_shared"]
    declared = [rec["serialnumber"] for rec in mine["_latest"].values()]
    assert len(shared) == 3
    assert sum(serial in shared for serial in declared) >= 0.6 * len(declared)
    devices = set(mine["_device_times"])
    assert set(shared) <= devices  # the shared serials are real devices: a naive join explodes
    owned = truth["device_owner"]
    assert any(rec["serialnumber"] == serial and serial not in shared
               for serial, email in owned.items() for rec in [mine["_latest"][email]])


def test_collisions_and_duplicates_are_planted(small):
    root, truth = small
    mine = recompute(root)
    phones = mine["_data"]["rows"]["accelerometer"]
    users_at = defaultdict(set)
    for r in phones:
        users_at[r["timestamp"]].add(r["user"])
    owner = truth["device_owner"]
    strangers = [(serial, ts) for serial, times in mine["_device_times"].items() if serial in owner
                 for ts in times if users_at[ts] - {owner[serial]}]
    assert strangers  # a join on timestamp alone pairs devices with other people's phones
    assert all(len(users) <= 2 for users in users_at.values())  # collisions are planted, one at a time
    assert len([ts for ts, users in users_at.items() if len(users) > 1]) <= 0.15 * truth["customers"]
    for source in ("accelerometer", "step_trainer"):
        valid = [line for line in lines(root, source) if parse(source, line) is not None]
        duplicates = len(valid) - len(set(valid))
        assert 0 < duplicates <= 0.01 * len(valid)


def test_big_sources_split_into_files(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "LINES_PER_FILE", 1000)
    truth = generate(tmp_path, customers=40, seed=3)
    assert len(list((tmp_path / "accelerometer/landing").glob("accelerometer-*.json"))) >= 4
    assert {source: len(lines(tmp_path, source)) for source in SOURCES} == truth["lines"]
    assert recompute(tmp_path)["rows"] == truth["rows"]


def test_regenerating_into_a_folder_replaces_its_files_only_when_forced(tmp_path):
    generate(tmp_path, customers=60, seed=1)
    with pytest.raises(ValueError, match="is not empty: give --force to overwrite its generated files"):
        generate(tmp_path, customers=20, seed=1)
    truth = generate(tmp_path, customers=20, seed=1, force=True)
    assert {source: len(lines(tmp_path, source)) for source in SOURCES} == truth["lines"]


def test_progress_and_arguments(tmp_path):
    messages = []
    generate(tmp_path, customers=20, seed=0, readings_per_device=4, progress=messages.append)
    assert messages and all(isinstance(m, str) for m in messages)
    with pytest.raises(ValueError):
        generate(tmp_path, customers=10, readings_per_device=1)
