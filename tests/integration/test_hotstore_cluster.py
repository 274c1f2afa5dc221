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
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port) for port in cluster_ports],
                          max_connections=300)
    yield client
    await client.aclose()


async def test_the_cluster_really_spreads_skus_over_its_three_masters(redis_client, hot_store, stocked, new_sku):
    """Not a single-node stand-in: different skus land on different masters."""
    nodes = set()
    for _ in range(12):
        sku = await new_sku()
        await stocked(sku, 1)
        nodes.add(redis_client.get_node_from_key(hot_store.stock_key(sku)).name)
    assert len(redis_client.get_primaries()) == 3 and len(nodes) >= 2
