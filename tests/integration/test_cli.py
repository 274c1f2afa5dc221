"""The commands an operator runs, as subprocesses against a database of their own."""

import os
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from db import demo
from db.hotstore import drop_prefix
from db.reservations import ReservationLine, reserve_in


def stocksaga(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stocksaga.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
async def demo_db(fresh_database, redis_url, redis_client):
    url = await fresh_database()
    engine = create_async_engine(url)
    await demo.load(engine, sku_count=20)
    prefix = f"cli{uuid.uuid4().hex[:8]}"
    yield engine, {"DATABASE_URL": url, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix}
    await engine.dispose()
    await drop_prefix(redis_client, prefix)


async def test_verify_passes_on_demo_data_and_names_the_invariant_a_tampered_row_breaks(demo_db):
    engine, env = demo_db
    clean = stocksaga("verify", "--no-hot-store", env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "every invariant holds" in clean.stdout

    tamper = sa.text("UPDATE stock_levels SET on_hand = on_hand + 5 WHERE sku = :s AND location_id = :l")
    async with engine.connect() as conn:
        sku, location = (await conn.execute(sa.text("SELECT sku, location_id FROM stock_levels LIMIT 1"))).one()
    with pytest.raises(sa.exc.IntegrityError, match="by bin and lot adds up to"):  # the database refuses it
        async with engine.begin() as conn:
            await conn.execute(tamper, {"s": sku, "l": location})
    async with engine.begin() as conn:  # as someone who switches the triggers off would
        await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await conn.execute(tamper, {"s": sku, "l": location})
    broken = stocksaga("verify", "--no-hot-store", env=env)
    assert broken.returncode == 1
    assert "invariant 2 projection = replay of the ledger" in broken.stdout
    assert f"{sku} @ {location}: on_hand: projection" in broken.stdout


async def test_verify_names_a_hold_kept_past_its_expiry_and_a_saga_stuck_on_a_failing_step(demo_db, redis_client):
    """Stuck work: a hold whose order still awaits payment 5 minutes after it expired, a hold
    Redis admitted half an hour ago that no saga ever recorded, and an activity that has failed
    7 times and is still retried. Each is named; within the grace, nothing is."""
    engine, env = demo_db
    async with engine.begin() as conn:
        sku, location = (
            await conn.execute(
                sa.text("SELECT sku, location_id FROM stock_levels WHERE on_hand > 2 ORDER BY sku LIMIT 1")
            )
        ).one()
        for order_id, minutes in (("o-stuck", 5), ("o-fresh", 0.5)):
            await conn.execute(
                sa.text(
                    "INSERT INTO orders (order_id, customer_id, status, lines, shipping, expires_at) "
                    "VALUES (:o, 'c', 'reserved', '[]', '{}', now() - make_interval(secs => :m * 60))"
                ),
                {"o": order_id, "m": minutes},
            )
            await reserve_in(conn, [ReservationLine(f"{order_id}-1", sku, location, 1, order_id)])
        await conn.execute(
            sa.text(
                "INSERT INTO activity_retries (workflow_id, activity_id, activity_type, attempt, error, retry_by) "
                "VALUES ('order-o-stuck', '1', 'persist_order', 7, 'RuntimeError: down', now() + interval '1 minute'), "
                "('order-o-gone', '1', 'persist_order', 9, 'RuntimeError: down', now() - interval '1 minute')"
            )
        )
    await stocksaga_ok("rebuild-hot-store", env=env)  # Redis agrees with Postgres on the levels
    await redis_client.set(
        f"{env['REDIS_KEY_PREFIX']}:hold:{{{sku}}}:ghost-1", f"{location}|1|reserved|{time.time() - 1800}"
    )

    found = stocksaga("verify", env=env)
    assert found.returncode == 1, found.stdout
    assert "invariant 7 no hold outlives its expiry" in found.stdout
    assert "hold o-stuck-1 of order o-stuck (reserved) (1 units, active) expired 00:05:" in found.stdout
    assert "o-fresh" not in found.stdout  # 30 s late: within the 60 s grace
    assert "hold ghost-1 (1 units) is reserved in Redis" in found.stdout
    assert "invariant 8 no saga is stuck on a failing step" in found.stdout
    assert "workflow order-o-stuck: activity persist_order has failed 7 times" in found.stdout
    assert "order-o-gone" not in found.stdout  # its next attempt never came: the workflow stopped retrying


async def stocksaga_ok(*args, env):
    done = stocksaga(*args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_rebuild_hot_store_repairs_redis_from_postgres(demo_db, redis_client):
    engine, env = demo_db
    assert stocksaga("rebuild-hot-store", env=env).returncode == 0
    assert stocksaga("verify", env=env).returncode == 0
    key = f"{env['REDIS_KEY_PREFIX']}:stock:{{DEMO-0005}}"
    field = next(f for f in await redis_client.hkeys(key) if f.endswith(b"|on_hand"))
    await redis_client.hset(key, field, 99999)

    drifted = stocksaga("verify", env=env)
    assert drifted.returncode == 1 and "invariant 4 hot store = Postgres projection" in drifted.stdout
    rebuilt = stocksaga("rebuild-hot-store", env=env)
    assert "hot store rebuilt from Postgres: 20 skus" in rebuilt.stdout
    assert stocksaga("verify", env=env).returncode == 0


def test_commands_without_a_database_url_say_what_to_set():
    result = stocksaga("verify", env={"DATABASE_URL": ""})
    assert result.returncode == 1 and "DATABASE_URL is not set" in result.stderr


def test_migrate_on_a_migrated_database_changes_nothing(demo_db):
    engine, env = demo_db
    result = stocksaga("migrate", env=env)
    assert result.returncode == 0 and "newest migration" in result.stdout


async def test_keys_are_created_listed_and_revoked_and_bad_input_exits_2(demo_db):
    engine, env = demo_db
    made = stocksaga("keys", "create", "--role", "warehouse", "--name", "dock 3", env=env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    key_id = token.split("_")[1]
    assert token.startswith(f"ssk_{key_id}_")
    listed = stocksaga("keys", "list", env=env)
    assert f"{key_id}" in listed.stdout and "warehouse" in listed.stdout and "live" in listed.stdout
    assert token not in listed.stdout
    assert stocksaga("keys", "revoke", key_id, env=env).returncode == 0
    assert "revoked" in stocksaga("keys", "list", env=env).stdout

    unknown = stocksaga("keys", "revoke", "nope", env=env)
    assert unknown.returncode == 2 and "key_id 'nope': no such key" in unknown.stderr
    bad_role = stocksaga("keys", "create", "--role", "root", "--name", "x", env=env)
    assert bad_role.returncode == 2 and "invalid choice: 'root'" in bad_role.stderr
    blank = stocksaga("keys", "create", "--role", "buyer", "--name", " ", env=env)
    assert blank.returncode == 2 and "name: must be 1-100 characters" in blank.stderr


@pytest.mark.parametrize("command", ["api", "worker"])
def test_production_refuses_to_start_with_placeholder_secrets(command, demo_db):
    _, env = demo_db
    result = stocksaga(
        command,
        env=env
        | {
            "ENVIRONMENT": "production",
            "WMS_HMAC_SECRET": "change-me-to-a-long-random-string",
            "ADMIN_API_KEY": "short",
        },
    )
    assert result.returncode == 1
    assert "refusing to start in production" in result.stderr
    assert "WMS_HMAC_SECRET is a placeholder" in result.stderr and "ADMIN_API_KEY has 5 characters" in result.stderr
