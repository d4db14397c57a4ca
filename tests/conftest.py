"""Shared fixtures: landing folders the tests write, and warehouses built from them."""

import json
import shutil
from pathlib import Path

import pytest

from stedi import query, run

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stedi"
FIXED_SALT = "test-salt"  # pseudonymous keys must not depend on which warehouse made them


@pytest.fixture(scope="module")
def salted():
    """STEDI_SALT fixed for a whole module, so warehouses built apart have the same keys."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STEDI_SALT", FIXED_SALT)
        yield


def write_landing(folder: Path, **sources: list) -> Path:
    """Write landing files: each source gets a list of lines (dicts are dumped as JSON)."""
    for source, lines in sources.items():
        landing = folder / source / "landing"
        landing.mkdir(parents=True, exist_ok=True)
        text = "".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines)
        (landing / f"{source}-{len(list(landing.iterdir()))}.json").write_text(text)
    return folder


def hold_back_phone_readings(landing: Path, emails: list[str], out: Path) -> tuple[Path, Path]:
    """Split `landing` into out/first (everything but the phone readings of `emails`) and out/late
    (those readings, in files of the same names)."""
    first, late = out / "first", out / "late"
    shutil.copytree(landing, first, ignore=shutil.ignore_patterns("accelerometer*"))
    for path in (landing / "accelerometer/landing").glob("*.json"):
        lines = path.read_text().splitlines(keepends=True)
        held = [line for line in lines if any(f'"{email}"' in line for email in emails)]
        for folder, part in ((first, [line for line in lines if line not in held]), (late, held)):
            (folder / "accelerometer/landing").mkdir(parents=True, exist_ok=True)
            (folder / "accelerometer/landing" / path.name).write_text("".join(part))
    return first, late


def scalar(warehouse, sql: str):
    return query(str(warehouse), sql)[1][0][0]


def rows(warehouse, sql: str) -> list[tuple]:
    return query(str(warehouse), sql)[1]


@pytest.fixture
def build(tmp_path):
    """build(consent_policy="any", **sources) -> warehouse folder, after one run."""

    builds = iter(range(1_000_000))

    def _build(consent_policy: str = "any", **sources):
        folder = tmp_path / f"build-{next(builds)}"
        landing = write_landing(folder / "in", **sources)
        run(str(folder / "wh"), str(landing), consent_policy)
        return folder / "wh"

    return _build


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """Generated landing data (200 customers, every planted case) and its ground truth."""
    from stedi import generate

    folder = tmp_path_factory.mktemp("generated")
    return folder, generate(str(folder), customers=200, seed=7)


TABLE_NAMES = [
    "customer_landing", "accelerometer_landing", "step_trainer_landing", "quarantine", "customer_trusted",
    "accelerometer_trusted", "customer_curated", "device_ownership", "device_owners", "step_trainer_trusted",
    "machine_learning_curated",
]


def contents(warehouse) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, for comparing warehouses order-insensitively."""
    return {name: sorted(rows(warehouse, f"SELECT * FROM {name}"), key=repr) for name in TABLE_NAMES}
