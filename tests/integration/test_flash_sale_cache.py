"""The API process keeps what a purchase needs of a sale in memory: a bounded number of
sales, so a client naming sale after sale cannot grow it without end."""

from api import flash_sales
from api.flash_sales import FlashSales
from stocksaga.settings import Settings


async def test_the_sale_cache_keeps_the_latest_sales_up_to_its_bound(engine, hot_store, monkeypatch):
    reads: list[str] = []

    async def stored(conn, sale_id):
        reads.append(sale_id)
        return {
            "sale_id": sale_id,
            "sku": "SKU",
            "location_id": "LOC",
            "pools": 4,
            "hold_seconds": 60,
            "mode": "first_come",
            "per_user_limit": 1,
        }

    monkeypatch.setattr(flash_sales.pg_sales, "get", stored)
    monkeypatch.setattr(flash_sales, "SALES_CACHED", 3)
    sales = FlashSales(engine, hot_store, Settings(), temporal=None)  # type: ignore[arg-type]

    for n in range(5):
        assert (await sales.sale(f"FS-{n}"))["sale_id"] == f"FS-{n}"
    assert len(sales._sales) == 3
    assert await sales.sale("FS-4") is not None and reads.count("FS-4") == 1  # kept: not read again
    assert await sales.sale("FS-0") is not None and reads.count("FS-0") == 2  # dropped first: read again
