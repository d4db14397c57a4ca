"""Shared fixtures: landing folders the tests write, and warehouses built from them."""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
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


def scalar(warehouse, sql: str, **where):
    return query(str(warehouse), sql, **where)[1][0][0]


def rows(warehouse, sql: str, **where) -> list[tuple]:
    return query(str(warehouse), sql, **where)[1]


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


def contents(warehouse, **where) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, for comparing warehouses order-insensitively (`where`: the
    catalog and database options)."""
    return {name: sorted(rows(warehouse, f"SELECT * FROM {name}", **where), key=repr) for name in TABLE_NAMES}


@contextmanager
def moto_server(log: Path, **environment):
    """An AWS emulator (moto in server mode) on a free loopback port; yields its endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, **environment})
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the AWS emulator did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def aws(tmp_path_factory):
    """The AWS emulator for the whole session; every AWS client is pointed at it through the
    standard AWS environment, as any AWS tool honours it. Yields that environment; the secret key
    is random, so a test can grep output for it."""
    folder = tmp_path_factory.mktemp("moto")
    with moto_server(folder / "moto.log") as endpoint, pytest.MonkeyPatch.context() as patch:
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing-key-id",
            "AWS_SECRET_ACCESS_KEY": "secret-" + secrets.token_hex(16),
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(folder / "no-config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-credentials"))
        for name, value in env.items():
            patch.setenv(name, value)
        forget_aws_settings()
        yield env
    forget_aws_settings()


def forget_aws_settings() -> None:
    """Drop what stedi resolved from the AWS environment, after a test changed it."""
    from stedi.storage import s3

    s3.settings.cache_clear()


@pytest.fixture
def bucket(aws, request):
    """A fresh, empty bucket on the emulator, named after the test."""
    import re
    import uuid

    import boto3

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:8]
    boto3.client("s3").create_bucket(Bucket=name)
    return name
