"""Worker entry point: wiring only (clients, the activities object, registration)."""

import asyncio
import logging

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.stock import StockActivities
from db.hotstore import HotStore
from stocksaga.settings import Settings
from workflows.holds import HoldWorkflow

WORKFLOWS = [HoldWorkflow]


def build_worker(client: Client, activities: StockActivities, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[activities.reserve_stock, activities.change_reservation, activities.apply_movement],
    )


async def run(settings: Settings) -> None:
    engine = create_async_engine(settings.require_database_url(), pool_size=10)
    redis_client = aioredis.from_url(settings.require_redis_url())
    hot_store = HotStore(redis_client, engine=engine, prefix=settings.redis_key_prefix,
                         event_ttl_seconds=settings.hot_store_event_ttl_seconds)
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    activities = StockActivities(engine, hot_store, settings.max_line_quantity)
    logging.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
    try:
        await build_worker(client, activities, settings.task_queue).run()
    finally:
        await redis_client.aclose()
        await engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    try:
        asyncio.run(run(Settings()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
