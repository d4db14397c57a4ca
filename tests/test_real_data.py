"""Acceptance on the public STEDI sample (../shared/data/stedi); skipped when it is absent."""

import pytest
from conftest import REAL_DATA, scalar

from stedi import accounting, run
from stedi.query import connect_tables

pytestmark = pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"the public STEDI sample is not at {REAL_DATA}")

# What the rules produce on the sample. The naive join of device and phone readings on the
# timestamp alone would give 43,681 machine-learning rows; pairing with the owner's phone gives 40,981.
EXPECTED = {
    "any": {
        "customer_landing": 956, "accelerometer_landing": 81273, "step_trainer_landing": 28680, "quarantine": 0,
        "customer_trusted": 482, "accelerometer_trusted": 40981, "customer_curated": 482,
        "device_ownership": 956, "device_owners": 482, "step_trainer_trusted": 14460, "machine_learning_curated": 40981,
    },
    "as-of": {
        "customer_landing": 956, "accelerometer_landing": 81273, "step_trainer_landing": 28680, "quarantine": 0,
        "customer_trusted": 482, "accelerometer_trusted": 32025, "customer_curated": 464,
        "device_ownership": 956, "device_owners": 482, "step_trainer_trusted": 11297, "machine_learning_curated": 32025,
    },
}
CASES = [(policy, table, count) for policy, counts in EXPECTED.items() for table, count in counts.items()]


def landing_lines(source: str) -> int:
    return sum(1 for path in (REAL_DATA / source / "landing").glob("*.json")
               for line in path.read_bytes().splitlines() if line.strip())


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory):
    """One warehouse built from the sample per consent policy."""
    built = {}
    for policy in EXPECTED:
        built[policy] = tmp_path_factory.mktemp(policy) / "wh"
        run(str(built[policy]), str(REAL_DATA), policy)
    return built


@pytest.fixture
def warehouse(warehouses):
    return warehouses["any"]


@pytest.mark.parametrize("policy, table, count", CASES)
def test_every_table_has_the_count_the_rules_produce(warehouses, policy, table, count):
    assert scalar(warehouses[policy], f"SELECT COUNT(*) FROM {table}") == count


@pytest.mark.parametrize("policy", EXPECTED)
def test_every_landing_row_is_accounted_for(warehouses, policy):
    for acc in accounting.account(connect_tables(str(warehouses[policy])), policy):
        assert acc.landing_rows == landing_lines(acc.source)
        assert acc.balanced, acc


def test_every_resolved_device_is_owned_by_the_customer_who_declared_it(warehouse):
    # The sample happens to have no serial defect: resolution by readings agrees with declarations.
    assert scalar(warehouse, "SELECT COUNT(*) FROM device_ownership WHERE owner_email IS NOT NULL") == 482
    assert scalar(warehouse, "SELECT bool_and(declared_serial_agrees) FROM device_ownership "
                             "WHERE owner_email IS NOT NULL")
