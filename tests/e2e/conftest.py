"""One running `stocksaga dev` for the end-to-end modules that use it (test_orders_http.py,
test_hostile_client.py, test_fuzz.py), started as a user starts it, with holds short enough
that "wait one hold period and look" fits in a test run."""

import httpx
import pytest

from stocksaga import embedded
from tests.e2e.stack import dev_keys, exported_env, start_dev, stop_dev

# Short holds and grace: what outlives its expiry shows within a minute. Reconciliation runs
# every few seconds, so its repairs meet the rushes (one once handed 50 units to 89 orders).
HOLD_SECONDS = 30
OVERDUE_GRACE_SECONDS = 10
STACK_SETTINGS = {
    "HOLD_MINUTES": str(HOLD_SECONDS / 60),
    "PAYMENT_EXTENSION_MINUTES": "0.25",
    "HOLD_OVERDUE_GRACE_SECONDS": str(OVERDUE_GRACE_SECONDS),
    "RECONCILE_INTERVAL_SECONDS": "3",
}


# Generated requests rewrite whatever the API lets an admin rewrite: schemathesis once turned
# FC-BER into a location serving no region, and every later order there was short. It runs
# after every other test on the shared stack.
LAST = "test_schemathesis_finds_no_server_error_and_no_schema_violation"


def pytest_collection_modifyitems(session, config, items):
    late = [item for item in items if item.name == LAST]
    if not late:
        return
    rest = [item for item in items if item.name != LAST]
    ends = [n for n, item in enumerate(rest) if "/tests/e2e/" in str(item.path)]
    cut = ends[-1] + 1 if ends else len(rest)
    items[:] = rest[:cut] + late + rest[cut:]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    ports = {"api": embedded.free_port(), "temporal": embedded.free_port(), "ui": embedded.free_port()}
    data_dir = tmp_path_factory.mktemp("dev") / "data"
    proc, lines = start_dev(data_dir, ports, STACK_SETTINGS)
    keys = dev_keys(data_dir)
    yield {
        "api": f"http://127.0.0.1:{ports['api']}",
        "env": {**exported_env(lines), **STACK_SETTINGS},
        "keys": keys,
        "admin": httpx.Client(timeout=30, headers={"Authorization": f"Bearer {keys['admin']}"}),
    }
    stop_dev(proc, ports)
