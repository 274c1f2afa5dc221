"""Every hot-store test again, on a real Redis Cluster of three masters started here: the
scripts touch one slot each (keys hash-tagged by sku), so the hot store runs unchanged.
The tests are test_hotstore.py's; only `redis_client` (and so `hot_store`) differ."""

import pytest
from redis.asyncio.cluster import ClusterNode, RedisCluster

from stocksaga import embedded
from tests.integration.test_hotstore import *  # noqa: F403 (the same tests, collected again here)
from tests.integration.test_hotstore import stocked  # noqa: F401 (its fixture, too)


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory):
    ports = embedded.cluster_ports(3)
    procs = embedded.start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"), ports)
    yield ports
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(10)


@pytest.fixture
async def redis_client(cluster_ports):
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port) for port in cluster_ports], max_connections=300)
    yield client
    await client.aclose()


async def test_the_cluster_really_spreads_skus_over_its_three_masters(redis_client, hot_store, stocked, new_sku):  # noqa: F811
    """Not a single-node stand-in: different skus land on different masters."""
    nodes = set()
    for _ in range(12):
        sku = await new_sku()
        await stocked(sku, 1)
        nodes.add(redis_client.get_node_from_key(hot_store.stock_key(sku)).name)
    assert len(redis_client.get_primaries()) == 3 and len(nodes) >= 2


async def test_redis_cluster_in_the_settings_gives_a_cluster_client_the_hot_store_works_with(
    cluster_ports, engine, location, new_sku
):
    from db.hotstore import HoldLine, HotStore
    from stocksaga.settings import Settings
    from tests.integration.test_hotstore import receive_in_postgres

    settings = Settings(_env_file=None, redis_url=f"redis://127.0.0.1:{cluster_ports[1]}/0", redis_cluster=True)
    client = settings.redis_client()
    try:
        assert isinstance(client, RedisCluster)
        store = HotStore(client, engine=engine, prefix="settings")
        sku = await new_sku()
        await receive_in_postgres(engine, sku, location, 3)
        assert await store.reserve(HoldLine("R-settings-1", sku, location, 2)) == 1  # loaded on first use
    finally:
        await client.aclose()
