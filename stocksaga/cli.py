"""The `stocksaga` command. Every subcommand reads the one Settings object."""

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import uvicorn
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client

from db import apikeys, demo, migrate, queries, verify
from db.hotstore import HotStore
from domain import access
from domain.errors import InvalidInput
from stocksaga import import_demand, telemetry
from stocksaga.dev_options import DESCRIPTION, add_dev_arguments
from stocksaga.progress import progress
from stocksaga.settings import Settings

# The API, the worker, the dev stack and the forecasting commands are imported by their own
# subcommand only: each pulls in most of the code (scipy, matplotlib and the API take
# seconds), and every other command (verify, keys, migrate ...) starts in a fraction of it.
SEASON_LENGTHS = ("D", "M", "W")  # domain.forecasting.SEASON_LENGTH's keys (tests/unit/test_forecast_cli.py)


def _engine(settings: Settings):
    return create_async_engine(settings.require_database_url())


def _hot_store(settings: Settings, engine):
    return HotStore(
        settings.redis_client(),
        engine=engine,
        prefix=settings.redis_key_prefix,
        event_ttl_seconds=settings.hot_store_event_ttl_seconds,
    )


async def _migrate(settings: Settings) -> None:
    engine = _engine(settings)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    print("schema is at the newest migration")


async def _verify(settings: Settings, sku: str | None, hot_store: bool) -> int:
    engine = _engine(settings)
    try:
        async with engine.connect() as conn:
            found = await verify.check(
                conn, sku, settings.hold_overdue_grace_seconds, settings.activity_retry_alert_attempts
            )
            totals = await queries.counts(conn)
        if hot_store:
            store = _hot_store(settings, engine)
            found += await store.drift(engine, sku)
            longest = (
                settings.hold_seconds + settings.payment_extension_minutes * 60 + settings.hold_overdue_grace_seconds
            )
            found += [v for v in await store.overdue_holds(engine, longest) if sku is None or v.sku == sku]
            await store.redis.aclose()
    finally:
        await engine.dispose()
    scope = (
        f"sku {sku}"
        if sku
        else f"{totals['skus']} skus, {totals['locations']} locations, {totals['movements']} movements"
    )
    if not found:
        print(f"verify: every invariant holds ({scope}{', hot store included' if hot_store else ''})")
        return 0
    print(f"verify: {len(found)} violation(s) ({scope})")
    for invariant in sorted({v.invariant for v in found}):
        rows = [v for v in found if v.invariant == invariant]
        print(f"\ninvariant {invariant}: {len(rows)} violation(s)")
        for v in rows[:50]:
            where = f"{v.sku} @ {v.location_id}: " if v.sku else ""
            print(f"  {where}{v.detail}")
        if len(rows) > 50:
            print(f"  ... and {len(rows) - 50} more")
    return 1


async def _rebuild(settings: Settings) -> None:
    engine = _engine(settings)
    store = _hot_store(settings, engine)
    try:
        count = await store.rebuild(engine, progress=progress("rebuilding hot store"))
    finally:
        await store.redis.aclose()
        await engine.dispose()
    print(f"hot store rebuilt from Postgres: {count} skus")


async def _demo(settings: Settings, sku_count: int) -> None:
    engine = _engine(settings)
    try:
        booked = await demo.load(engine, sku_count, progress=progress("loading demo data"))
    finally:
        await engine.dispose()
    print(f"demo data loaded: {booked} new receipts")


async def _schedules(settings: Settings) -> None:
    from stocksaga import schedules  # noqa: PLC0415 (see SEASON_LENGTHS)

    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    await schedules.ensure(client, settings)
    print(f"schedule {schedules.RECONCILIATION}: every {settings.reconcile_interval_seconds}s")


async def _import_demand(settings: Settings, args) -> int:
    engine = _engine(settings)
    try:
        return await import_demand.run(engine, args.csv, args.location, args.create_skus, args.as_recent)
    finally:
        await engine.dispose()


async def _import_promotions(settings: Settings, args) -> int:
    from stocksaga import import_promotions  # noqa: PLC0415 (pulls in the API's request models)

    engine = _engine(settings)
    try:
        return await import_promotions.run(engine, args.csv)
    finally:
        await engine.dispose()


async def _keys(settings: Settings, args) -> int:
    engine = _engine(settings)
    try:
        if args.keys == "create":
            key_id, token = await apikeys.create(engine, args.role, args.name)
            print(f"created key {key_id} ({args.role}, {args.name!r}); it is shown this once, keep it safe:")
            print(token)
        elif args.keys == "list":
            async with engine.connect() as conn:
                rows = await apikeys.listing(conn)
            for row in rows:
                state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "live"
                print(f"{row['key_id']:14} {row['role']:10} {state:24} {row['name']}")
            print(f"{len(rows)} key(s)")
        else:
            if await apikeys.revoke(engine, args.key_id) is None:
                print(f"error: key_id {args.key_id!r}: no such key (see `stocksaga keys list`)", file=sys.stderr)
                return 2
            print(f"key {args.key_id} revoked (API processes refuse it within {settings.api_key_cache_seconds:g}s)")
    finally:
        await engine.dispose()
    return 0


async def _worker_health(settings: Settings, timeout: float) -> int:
    import uuid  # noqa: PLC0415

    from temporalio.client import Client  # noqa: PLC0415

    from workflows.health import HealthWorkflow  # noqa: PLC0415

    try:
        client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        await client.execute_workflow(
            HealthWorkflow.run,
            "health",
            id=f"health-{uuid.uuid4()}",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(seconds=timeout),
        )
    except Exception as err:  # noqa: BLE001 (any failure is "unhealthy", with the reason)
        print(f"unhealthy: {err}", file=sys.stderr)
        return 1
    print("healthy: a worker completed a workflow on task queue " + settings.task_queue)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stocksaga", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_dev_arguments(
        sub.add_parser(
            "dev",
            help="bring up the whole system (Postgres, Redis, Temporal + UI, worker, API) with demo data",
            description=DESCRIPTION,
        )
    )

    sub.add_parser("migrate", help="bring the database schema to the newest migration")
    sub.add_parser("worker", help="run a Temporal worker")
    health = sub.add_parser(
        "worker-health",
        help="exit 0 when a worker serves the task queue (a trivial workflow "
        "completes within --timeout seconds), else 1; for health checks",
    )
    health.add_argument("--timeout", type=float, default=10.0)
    api = sub.add_parser("api", help="serve the REST API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes sharing the port (settings from the environment); default 1",
    )

    verify = sub.add_parser("verify", help="check every stock invariant; exit 1 with a report on any violation")
    verify.add_argument("--sku", help="check one sku only")
    verify.add_argument("--no-hot-store", action="store_true", help="skip comparing Redis with Postgres")

    keys = sub.add_parser("keys", help="API keys: create, list, revoke").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", help="create a key of a role and print it (once)")
    create.add_argument("--role", required=True, choices=access.ROLES)
    create.add_argument("--name", required=True, help="who or what holds it, e.g. 'web shop'")
    keys.add_parser("list", help="every key: id, role, live or revoked, name (never the key)")
    revoke = keys.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")

    sub.add_parser("rebuild-hot-store", help="reload the Redis hot store from Postgres")
    sub.add_parser("schedules", help="create or update the Temporal Schedules (reconciliation)")
    demo = sub.add_parser("load-demo", help="load the demo catalogue and stock (idempotent)")
    demo.add_argument("--skus", type=int, default=300)

    imp = sub.add_parser("import-demand", help="load demand history (sku, period_start, qty) for one location")
    imp.add_argument("--csv", type=Path, required=True, help="the file: sku, period_start, qty (empty qty = missing)")
    imp.add_argument("--location", required=True, help="the location the history belongs to")
    imp.add_argument("--create-skus", action="store_true", help="add skus the catalogue does not know yet")
    imp.add_argument(
        "--as-recent",
        action="store_true",
        help="move the history so its last period is the current one (old exports, public data for a demo)",
    )

    promo = sub.add_parser("import-promotions", help="load planned promotions and events from a CSV (all or nothing)")
    promo.add_argument(
        "--csv",
        type=Path,
        required=True,
        help="the file: promotion_id, sku or category, location_id (empty: all), starts_on, ends_on, kind, "
        "discount, note",
    )

    forecast = sub.add_parser("forecast", help="forecasting tools").add_subparsers(dest="forecast", required=True)
    bt = forecast.add_parser(
        "backtest",
        help="accuracy of every method and the automatic choice on a holdout, "
        "and fill rate against stock at each service level",
    )
    bt.add_argument("--csv", type=Path, required=True, help="demand history: sku, period_start, qty")
    bt.add_argument(
        "--freq", choices=SEASON_LENGTHS, default="M", help="period length: day, week or month (sets the season)"
    )
    bt.add_argument("--horizon", type=_positive, default=12, help="periods held out at the end")
    bt.add_argument("--lead-time", type=_non_negative, default=1, help="supplier lead time in periods")
    bt.add_argument(
        "--service-levels", type=_levels, default=(0.9, 0.95, 0.99), help="fill-rate targets, e.g. 0.9,0.95,0.99"
    )
    bt.add_argument("--plot", type=Path, default=Path("forecast-backtest.png"), help="where to write the PNG plot")
    bt.add_argument(
        "--min-nonzero", type=_non_negative, default=10, help="series with fewer non-zero periods are left out"
    )
    bt.add_argument(
        "--promotions",
        type=Path,
        help="promotions of the file's skus (as import-promotions reads them): accuracy on their periods "
        "with and without the calendar",
    )
    return parser


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _levels(text: str) -> tuple[float, ...]:
    try:
        levels = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give fill-rate targets like 0.9,0.95,0.99") from None
    if not all(0 < level < 1 for level in levels):
        raise argparse.ArgumentTypeError("every service level must lie strictly between 0 and 1")
    return levels


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    if args.command == "dev":
        from stocksaga.devstack import run_dev  # noqa: PLC0415 (see SEASON_LENGTHS)

        return run_dev(settings, args)
    if args.command == "worker-health":
        return asyncio.run(_worker_health(settings, args.timeout))
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "worker":
        settings.require_database_url(), settings.require_redis_url()
        settings.refuse_weak_secrets()
        from workers.main import main as worker_main  # noqa: PLC0415

        worker_main()
    elif args.command == "api":
        settings.require_database_url(), settings.require_redis_url()
        # keep-alive past uvicorn's 5 s default: pooled client connections (and load balancers,
        # which mostly idle out at 60 s) otherwise race the server closing them
        where = dict(
            host=args.host or settings.api_host,
            port=args.port or settings.api_port,
            timeout_keep_alive=75,
            log_config=telemetry.uvicorn_log_config(settings),
        )
        if args.workers < 1:
            print("error: --workers must be at least 1", file=sys.stderr)
            return 2
        telemetry.configure_logging(settings, "api")
        if args.workers > 1:  # each process builds its own app (and its logging and tracing) from the environment
            settings.refuse_weak_secrets()
            uvicorn.run("api.app:create_app_from_env", factory=True, workers=args.workers, **where)
        else:
            telemetry.setup_tracing(settings, "stocksaga-api")
            from api.app import create_app  # noqa: PLC0415

            uvicorn.run(create_app(settings), **where)
    elif args.command == "verify":
        hot = not args.no_hot_store and bool(settings.redis_url)
        return asyncio.run(_verify(settings, args.sku, hot))
    elif args.command == "keys":
        try:
            return asyncio.run(_keys(settings, args))
        except InvalidInput as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    elif args.command == "schedules":
        asyncio.run(_schedules(settings))
    elif args.command == "rebuild-hot-store":
        asyncio.run(_rebuild(settings))
    elif args.command == "load-demo":
        asyncio.run(_demo(settings, args.skus))
    elif args.command == "import-demand":
        if not args.csv.is_file():
            print(f"error: --csv {args.csv}: no such file", file=sys.stderr)
            return 2
        return asyncio.run(_import_demand(settings, args))
    elif args.command == "import-promotions":
        if not args.csv.is_file():
            print(f"error: --csv {args.csv}: no such file", file=sys.stderr)
            return 2
        return asyncio.run(_import_promotions(settings, args))
    elif args.command == "forecast":
        if not args.csv.is_file():
            print(f"error: --csv {args.csv}: no such file", file=sys.stderr)
            return 2
        from stocksaga import forecast_cli  # noqa: PLC0415

        return forecast_cli.run(
            args.csv,
            args.freq,
            args.horizon,
            args.lead_time,
            args.service_levels,
            args.plot,
            args.min_nonzero,
            args.promotions,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
