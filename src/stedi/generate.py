"""Synthetic STEDI landing data whose correct lakehouse output is known by construction.

`generate` writes the three landing zones in the layout and key spelling of the public STEDI
sample (JSON Lines, epoch-millisecond timestamps) and returns the rows each lakehouse table must
hold. Customers are planned in Python, a few records each; their readings are expanded from that
plan by DuckDB SQL, with hash() as deterministic noise, and written with COPY, so tens of millions
of readings never become Python objects.

Each customer plays one scenario (PATTERN). Different customers never share a millisecond except
where a collision is planted: customer i reads in lane i % LANES (all its timestamps are congruent
to T0 + lane modulo LANES) of block i // LANES, and blocks follow one another in time.
"""

import bisect
import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

SOURCES = ("customer", "accelerometer", "step_trainer")
POLICIES = ("any", "as-of")
TABLES = (
    "customer_landing", "accelerometer_landing", "step_trainer_landing", "customer_trusted",
    "accelerometer_trusted", "customer_curated", "step_trainer_trusted", "machine_learning_curated",
)
LINES_PER_FILE = 1_000_000

# Customer i plays PATTERN[i % len(PATTERN)]; every even position is a consenting device owner.
PATTERN = (
    "consenting", "never_consented", "consenting", "late_consent", "consenting",
    "consent_withdrawn", "consenting", "consent_granted", "consenting", "phone_only",
    "consenting", "device_only", "consenting", "partial_coverage", "consenting",
    "never_consented", "consenting", "late_consent", "consenting", "partial_coverage",
)

T0 = 1_655_560_000_000  # first block's start, epoch ms (June 2022, like the sample)
LANES = 100  # customers reading at once; a session's clock ticks in units of LANES ms
STEP_TICKS = (30, 40)  # device reading interval: 3.0 to 4.0 s
EXTRA_TICKS = 15  # an extra phone reading lies this far after a device time, before the next
SPREAD_TICKS = 3000  # session starts spread over 5 minutes of a block

PATTERNS = 256  # phone multiplicity patterns shared out among customers
MULTIPLICITY = {1: 3, 2: 17, 3: 80}  # phone readings per device time: weights, as in the sample
EXTRA_RATE = 0.3  # device times followed by an extra phone reading
SHARED_SERIALS = 3
DECLARE_SHARED = 0.8  # customers declaring one of the shared serials
ACC_DUP_RATE = 0.25  # phones with one line written twice (about 3 per 1000 lines)
STEP_DUP_RATE = 0.1  # devices with one line written twice (about 3 per 1000 lines)
LOWER_CASE_KEYS = 25  # customers i with i % 25 == 3 send lower-case keys

FIRST_NAMES = (
    "Santosh", "Ben", "Sarah", "Jerry", "Ashley", "Frank", "Travis", "Dan", "Trevor", "Spencer",
    "Neeraj", "Lyn", "Chris", "Liz", "Jacob", "Bobby", "Gail", "Jo", "Senthil", "Kate",
    "Mohammed", "Eric", "Angie", "Steph", "Manoj", "Danny", "Larry", "Sean", "Raju", "Done",
)
LAST_NAMES = (
    "Clayton", "Khatib", "Lincoln", "Habschied", "Abram", "Doshi", "Wu", "Ahmed", "Jackson",
    "Olson", "Harris", "Anandh", "Mitra", "Huey", "Staples", "Hansen", "Stark", "Jones", "Lin",
    "Davis", "Aristotle", "Young", "Army", "Gonzalez", "Hargrove", "Armstrong", "Phillips", "Kumar",
)

ACCELEROMETER_SQL = """
WITH grid AS (
    SELECT c.i, c.email, c.partial, c.acc_dup, p.k, p.m, p.extra, c.t0 + p.k * c.step AS ts,
           (hash(c.i, p.k, {seed}) % 27)::INTEGER AS combo
    FROM cust AS c JOIN pattern AS p ON p.pattern = c.pattern
    WHERE c.phone AND c.i >= {lo} AND c.i < {hi}
), readings AS (
    -- 1-3 readings at each device time (every other one under partial coverage), distinct x,y,z
    SELECT i, email, ts, (combo + j) % 27 AS combo
    FROM grid, range(3) AS r(j) WHERE j < m AND NOT (partial AND k % 2 = 1)
    UNION ALL  -- planted exact duplicate of the first reading at one device time
    SELECT i, email, ts, combo FROM grid WHERE k = acc_dup
    UNION ALL  -- extra readings between device times
    SELECT i, email, ts + {extra_ms}, (combo + 13) % 27 FROM grid WHERE extra
    UNION ALL  -- planted collision: one reading at another customer's device time
    SELECT i, email, collide_ts, (hash(i, {seed}) % 27)::INTEGER FROM cust
    WHERE collide_ts IS NOT NULL AND i >= {lo} AND i < {hi}
)
SELECT email AS "user", ts AS "timestamp", (combo // 9 - 1)::DOUBLE AS x,
       (combo // 3 % 3 - 1)::DOUBLE AS y, (combo % 3 - 1)::DOUBLE AS z
FROM readings ORDER BY i, ts DESC, combo
"""

STEP_TRAINER_SQL = """
WITH grid AS (
    SELECT c.i, c.serial, c.st_dup, g.k, c.t0 + g.k * c.step AS ts
    FROM cust AS c, range({readings}) AS g(k)
    WHERE c.device AND c.i >= {lo} AND c.i < {hi}
), readings AS (
    SELECT * FROM grid
    UNION ALL  -- planted exact duplicate
    SELECT * FROM grid WHERE k = st_dup
)
SELECT ts AS "sensorReadingTime", serial AS "serialNumber",
       (200 + hash(i, k, {seed}, 'distance') % 101)::INTEGER AS "distanceFromObject"
FROM readings ORDER BY i, ts
"""


@dataclass
class Customer:
    """One customer's plan: identity, landing records, device and phone clocks, planted defects."""

    i: int
    kind: str
    email: str
    t0: int  # first device time, epoch ms
    step: int  # ms between device times
    pattern: int  # index of the phone multiplicity pattern
    serial: str | None = None  # true device serial; None without a device
    records: list = field(default_factory=list)  # landing records, oldest first
    consent: int | None = None  # shareWithResearchAsOfDate of the latest record
    acc_dup: int | None = None  # device time whose first phone reading is written twice
    st_dup: int | None = None  # device time whose reading is written twice
    collide_ts: int | None = None  # one phone reading at another customer's device time

    @property
    def phone(self) -> bool:
        return self.kind != "device_only"

    @property
    def device(self) -> bool:
        return self.kind != "phone_only"


def generate(out_dir, customers: int = 1000, seed: int = 0, readings_per_device: int = 30, progress=None,
             force: bool = False) -> dict:
    """Write landing JSON Lines under out_dir and return the ground truth (also written to
    out_dir/ground_truth.json). A folder that holds anything is overwritten only with `force`."""
    if customers < 1 or readings_per_device < 2:
        raise ValueError("need customers >= 1 and readings_per_device >= 2")
    say = progress or (lambda message: None)
    out = Path(out_dir)
    if not force and out.is_dir() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty: give --force to overwrite its generated files")
    rng = random.Random(seed)
    patterns = [_pattern(rng, readings_per_device) for _ in range(PATTERNS)]
    people, shared = _plan(rng, customers, readings_per_device)
    malformed = _malformed(people[0])
    truth, acc_lines, st_lines = _ground_truth(people, patterns, readings_per_device, malformed, shared)
    truth = {"seed": seed, "customers": customers, "readings_per_device": readings_per_device} | truth
    say(f"planned {customers} customers")

    for source in SOURCES:
        landing = out / source / "landing"
        landing.mkdir(parents=True, exist_ok=True)
        for stale in landing.glob(f"{source}-*.json"):
            stale.unlink()
        _write_lines(landing / f"{source}-malformed.json", malformed[source])

    records = [json.dumps(r) for c in people for r in c.records]
    rng.shuffle(records)
    for n, lo in enumerate(range(0, len(records), LINES_PER_FILE), 1):
        _write_lines(out / "customer/landing" / f"customer-{n}.json", records[lo : lo + LINES_PER_FILE])
    say(f"customer: {len(records)} records")

    con = duckdb.connect()
    con.register("cust", _customer_table(people))
    con.register("pattern", _pattern_table(patterns))
    for source, sql, counts in (
        ("accelerometer", ACCELEROMETER_SQL, acc_lines),
        ("step_trainer", STEP_TRAINER_SQL, st_lines),
    ):
        chunks = list(_chunks(counts, LINES_PER_FILE))
        for n, (lo, hi) in enumerate(chunks, 1):
            query = sql.format(
                lo=lo, hi=hi, seed=int(seed), readings=readings_per_device, extra_ms=EXTRA_TICKS * LANES
            )
            path = str(out / source / "landing" / f"{source}-{n}.json").replace("'", "''")
            con.execute(f"COPY ({query}) TO '{path}' (FORMAT json)")
            say(f"{source}: file {n}/{len(chunks)}, {sum(counts[lo:hi])} lines")
    con.close()

    (out / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def _pattern(rng: random.Random, readings: int) -> tuple[list[int], list[bool]]:
    """Phone readings at each device time (1-3) and whether an extra reading follows it."""
    counts = rng.choices(list(MULTIPLICITY), weights=list(MULTIPLICITY.values()), k=readings)
    return counts, [rng.random() < EXTRA_RATE for _ in range(readings)]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _clock(rng: random.Random, i: int, readings: int) -> tuple[int, int]:
    """First device time and interval (ms) of customer i, in lane i % LANES of block i // LANES."""
    block_ticks = SPREAD_TICKS + readings * STEP_TICKS[1]
    start = (i // LANES) * block_ticks + rng.randrange(SPREAD_TICKS)
    return T0 + LANES * start + i % LANES, LANES * rng.randint(*STEP_TICKS)


def _plan(rng: random.Random, n: int, readings: int) -> tuple[list[Customer], list[str]]:
    """Plan every customer; return them and the few serials most of them declare."""
    people, names = [], []
    for i in range(n):
        kind = PATTERN[i % len(PATTERN)]
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        t0, step = _clock(rng, i, readings)
        c = Customer(i, kind, f"{name.replace(' ', '.')}{i}@test.com", t0, step, rng.randrange(PATTERNS))
        if c.device:
            c.serial = _uuid(rng)
            if rng.random() < STEP_DUP_RATE:
                c.st_dup = rng.randrange(readings)
        if c.phone and rng.random() < ACC_DUP_RATE:
            c.acc_dup = rng.randrange(0, readings, 2 if kind == "partial_coverage" else 1)
        people.append(c)
        names.append(name)
    # The defect: the shared serials are real devices' serials, declared by most customers.
    shared = [c.serial for c in people if c.kind == "consenting"][:SHARED_SERIALS]
    for c, name in zip(people, names):
        if c.serial in shared or rng.random() >= DECLARE_SHARED:
            declared = c.serial or _uuid(rng)
        else:
            declared = rng.choice(shared)
        c.records, c.consent = _records(rng, c, name, declared, readings)
    _plant_collisions(rng, people, readings)
    return people, shared


def _records(rng: random.Random, c: Customer, name: str, declared: str, readings: int) -> tuple[list, int | None]:
    """A customer's landing records (oldest first) and the research consent date of the latest."""
    registered = c.t0 - rng.randrange(60_000, 2 * 86_400_000)
    updated = (registered + c.t0) // 2
    base = {
        "customerName": name, "email": c.email, "phone": "8015551212",
        "birthDay": f"{rng.randint(1930, 2005)}-01-01", "serialNumber": declared,
        "registrationDate": registered,
    }

    def record(last_update: int, research: int | None) -> dict:
        shares = {
            "shareWithResearchAsOfDate": research,
            "shareWithPublicAsOfDate": last_update if rng.random() < 0.5 else None,
            "shareWithFriendsAsOfDate": last_update if rng.random() < 0.5 else None,
        }
        rec = base | {"lastUpdateDate": last_update}
        for key, value in shares.items():
            if value is not None or rng.random() < 0.5:  # a share not given is null or left out
                rec[key] = value
        return rec

    if c.kind == "late_consent":
        consent = c.t0 + readings // 2 * c.step  # exactly the middle device time
        history = [(consent, consent)]
    elif c.kind == "never_consented":
        history = [(registered, None)]
    elif c.kind == "consent_withdrawn":
        history = [(registered, registered), (updated, None)]
    elif c.kind == "consent_granted":
        history = [(registered, None), (updated, updated)]
    else:
        history = [(registered, registered)]
    records = [record(last_update, research) for last_update, research in history]
    if c.i % LOWER_CASE_KEYS == 3:
        records = [{key.lower(): value for key, value in rec.items()} for rec in records]
    return records, history[-1][1]


def _plant_collisions(rng: random.Random, people: list[Customer], readings: int) -> None:
    """Give every phone-only customer, and one owner in 40, a reading at the next owner's device time.

    One shared time is 1/readings (at most 50%) of the device's times: never enough to own it.
    """
    owners = [c.i for c in people if c.kind == "consenting"]
    for c in people:
        if c.kind == "phone_only" or (c.kind == "consenting" and c.i % 40 == 0):
            victim = people[owners[bisect.bisect_right(owners, c.i) % len(owners)]]
            if victim is not c:
                c.collide_ts = victim.t0 + rng.randrange(readings) * victim.step


def _suffix_sums(values: list[int]) -> list[int]:
    """sums[k] == sum(values[k:]) for k in 0..len(values)."""
    sums = [0]
    for value in reversed(values):
        sums.append(sums[-1] + value)
    return sums[::-1]


def _phone_tails(pattern: tuple[list[int], list[bool]], partial: bool) -> tuple[list[int], list[int]]:
    """Distinct phone readings from device time k on: at device times, and extra ones after them."""
    counts, extras = pattern
    at_device = [0 if partial and k % 2 else n for k, n in enumerate(counts)]
    return _suffix_sums(at_device), _suffix_sums([int(e) for e in extras])


def _first_index(t0: int, step: int, since: int | None, readings: int) -> int:
    """Smallest k in 0..readings with t0 + k * step >= since (readings when there is none)."""
    return 0 if since is None else min(readings, max(0, -((t0 - since) // step)))


def _ground_truth(people, patterns, readings, malformed, shared) -> tuple[dict, list[int], list[int]]:
    """The ground truth, and accelerometer and step trainer lines per customer, from the plan.

    A phone covers every time of its own device (partial coverage: every other one), and no other
    customer's phone covers more than one, so a device resolves exactly when its owner has a full
    phone and is trusted. The owner's distinct readings at its device times are the device's
    machine_learning_curated pairs.
    """
    tails = {
        (p, partial): _phone_tails(pattern, partial) for p, pattern in enumerate(patterns) for partial in (False, True)
    }
    no_phone = ([0] * (readings + 1), [0] * (readings + 1))
    rows = {policy: dict.fromkeys(TABLES, 0) for policy in POLICIES}
    curated = {policy: [] for policy in POLICIES}
    trusted, owners, unresolved, acc_lines, st_lines = [], {}, [], [], []
    scenarios = dict.fromkeys(PATTERN, 0)
    for c in people:
        scenarios[c.kind] += 1
        at_device, extra = tails[c.pattern, c.kind == "partial_coverage"] if c.phone else no_phone
        collided = c.collide_ts is not None
        acc_lines.append(at_device[0] + extra[0] + collided + (c.acc_dup is not None))
        st_lines.append(readings + (c.st_dup is not None) if c.device else 0)
        resolved = c.device and c.phone and c.kind != "partial_coverage" and c.consent is not None
        if c.device:
            if resolved:
                owners[c.serial] = c.email
            else:
                unresolved.append(c.serial)
        if c.consent is None:
            continue
        trusted.append(c.email)
        for policy, since in (("any", None), ("as-of", c.consent)):
            k = _first_index(c.t0, c.step, since, readings)
            k_extra = _first_index(c.t0 + EXTRA_TICKS * LANES, c.step, since, readings)
            kept = at_device[k] + extra[k_extra] + (collided and (since is None or c.collide_ts >= since))
            if not kept:
                continue
            curated[policy].append(c.email)
            rows[policy]["accelerometer_trusted"] += kept
            if resolved:
                rows[policy]["step_trainer_trusted"] += readings - k
                rows[policy]["machine_learning_curated"] += at_device[k]

    lines = {
        "customer": sum(len(c.records) for c in people),
        "accelerometer": sum(acc_lines),
        "step_trainer": sum(st_lines),
    }
    for policy in POLICIES:
        rows[policy].update({f"{s}_landing": lines[s] for s in SOURCES})
        rows[policy]["customer_trusted"] = len(trusted)
        rows[policy]["customer_curated"] = len(curated[policy])
    truth = {
        "lines": {s: lines[s] + len(malformed[s]) for s in SOURCES},
        "quarantined": {s: len(malformed[s]) for s in SOURCES},
        "rows": rows,
        "customer_trusted": sorted(trusted),
        "customer_curated": {policy: sorted(curated[policy]) for policy in POLICIES},
        "device_owner": dict(sorted(owners.items())),
        "unresolved_devices": sorted(unresolved),
        "declared_serials_shared": sorted(shared),
        "scenarios": scenarios,
    }
    return truth, acc_lines, st_lines


def _malformed(c: Customer) -> dict[str, list[str]]:
    """Lines each landing must quarantine: at least one of every kind of defect, per source.

    They name a real customer and device time, and would change the tables if let in: the wrongly
    typed customer records withdraw consent, the readings' values appear nowhere else.
    """
    compact = {"separators": (",", ":")}
    rec = c.records[-1]
    withdrawn = {"lastUpdateDate": rec["lastUpdateDate"] + 1, "shareWithResearchAsOfDate": None}
    reading = {"user": c.email, "timestamp": c.t0, "x": 0.5, "y": -0.5, "z": 1.5}
    device = {"sensorReadingTime": c.t0, "serialNumber": c.serial, "distanceFromObject": 999}
    return {
        "customer": [
            "customer export interrupted, retrying",  # not JSON at all
            json.dumps(rec)[:60],  # truncated
            json.dumps([rec]),  # an array, not an object
            json.dumps({k: v for k, v in rec.items() if k != "email"}),  # missing required field
            json.dumps(rec | withdrawn | {"lastUpdateDate": str(withdrawn["lastUpdateDate"])}),  # wrong type
            json.dumps(rec | withdrawn | {"registrationDate": "2022-06-18"}),  # wrong type
            json.dumps(rec | {"email": ""}),  # empty email
            json.dumps(rec | {"email": None}),  # null required field
        ],
        "accelerometer": [
            "user,timestamp,x,y,z",
            json.dumps(reading, **compact)[:45],
            json.dumps([reading], **compact),
            json.dumps({k: v for k, v in reading.items() if k != "z"}, **compact),
            json.dumps(reading | {"timestamp": str(c.t0)}, **compact),
            json.dumps(reading | {"x": "0.5"}, **compact),
            json.dumps(reading | {"user": None}, **compact),
        ],
        "step_trainer": [
            "sensorReadingTime,serialNumber,distanceFromObject",
            json.dumps(device, **compact)[:45],
            json.dumps([device], **compact),
            json.dumps({k: v for k, v in device.items() if k != "distanceFromObject"}, **compact),
            json.dumps(device | {"sensorReadingTime": str(c.t0)}, **compact),
            json.dumps(device | {"distanceFromObject": "999"}, **compact),
            json.dumps(device | {"serialNumber": None}, **compact),
        ],
    }


def _customer_table(people: list[Customer]) -> pa.Table:
    """The plan as an Arrow table for the SQL that expands readings."""
    return pa.table({
        "i": [c.i for c in people],
        "email": [c.email for c in people],
        "serial": [c.serial for c in people],
        "phone": [c.phone for c in people],
        "device": [c.device for c in people],
        "partial": [c.kind == "partial_coverage" for c in people],
        "t0": [c.t0 for c in people],
        "step": [c.step for c in people],
        "pattern": [c.pattern for c in people],
        "acc_dup": pa.array([c.acc_dup for c in people], pa.int64()),
        "st_dup": pa.array([c.st_dup for c in people], pa.int64()),
        "collide_ts": pa.array([c.collide_ts for c in people], pa.int64()),
    })


def _pattern_table(patterns: list[tuple[list[int], list[bool]]]) -> pa.Table:
    """The phone multiplicity patterns as rows (pattern, k, m, extra) for the SQL."""
    readings = len(patterns[0][0])
    return pa.table({
        "pattern": [p for p in range(len(patterns)) for _ in range(readings)],
        "k": list(range(readings)) * len(patterns),
        "m": [m for counts, _ in patterns for m in counts],
        "extra": [extra for _, extras in patterns for extra in extras],
    })


def _chunks(counts: list[int], limit: int):
    """Consecutive customer ranges [lo, hi) of at most `limit` lines each (one customer at least)."""
    lo, total = 0, 0
    for i, n in enumerate(counts):
        if total and total + n > limit:
            yield lo, i
            lo, total = i, 0
        total += n
    if total:
        yield lo, len(counts)


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))
