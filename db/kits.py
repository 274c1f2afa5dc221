"""Kits: skus made of other skus. A kit has no stock of its own; what it can sell is what its
components build (domain/lots.kits_buildable), and an order for it holds its components."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import kit_components, movements, skus, stock_detail, stock_levels
from domain.errors import InvalidInput, UnknownSku
from domain.lots import Tracking

MAX_COMPONENTS = 50


async def components_of(conn: AsyncConnection, names: list[str]) -> dict[str, dict[str, int]]:
    """{kit: {component: units per kit}} for the kits among `names` (plain skus are absent)."""
    kc = kit_components
    out: dict[str, dict[str, int]] = {}
    rows = await conn.execute(
        sa.select(kc.c.kit_sku, kc.c.component_sku, kc.c.quantity)
        .where(kc.c.kit_sku.in_(names))
        .order_by(kc.c.kit_sku, kc.c.component_sku)
    )
    for r in rows:
        out.setdefault(r.kit_sku, {})[r.component_sku] = r.quantity
    return out


async def kits_containing(conn: AsyncConnection, component: str) -> list[str]:
    kc = kit_components
    return list(await conn.scalars(sa.select(kc.c.kit_sku).where(kc.c.component_sku == component).distinct()))


async def put_components(conn: AsyncConnection, kit: str, components: list[tuple[str, int]]) -> dict[str, Any]:
    """Make `kit` a kit of `components` (sku, units per kit), replacing what it listed before.
    Raises UnknownSku for the kit, InvalidInput naming the field for anything else: a
    component that is unknown, inactive, listed twice, the kit itself or a kit; a kit that is
    a component of another kit, is tracked by lot or serial, or has stock of its own."""
    row = (
        await conn.execute(sa.select(skus.c.sku, skus.c.tracking).where(skus.c.sku == kit).with_for_update())
    ).first()
    if row is None:
        raise UnknownSku(kit)
    if not components:
        raise InvalidInput("components", "a kit lists at least one component")
    if len(components) > MAX_COMPONENTS:
        raise InvalidInput("components", f"a kit lists at most {MAX_COMPONENTS} components, not {len(components)}")
    if row.tracking != Tracking.NONE.value:
        raise InvalidInput("sku", f"{kit} is tracked by {row.tracking}; a kit's units are its components'")
    names = [sku for sku, _ in components]
    found = {r.sku: r for r in await conn.execute(sa.select(skus.c.sku, skus.c.active).where(skus.c.sku.in_(names)))}
    nested = await components_of(conn, names)
    seen: dict[str, int] = {}
    for n, (sku, _) in enumerate(components):
        field = f"components[{n}].sku"
        if sku == kit:
            raise InvalidInput(field, f"a kit cannot contain itself ({kit})")
        if sku in seen:
            raise InvalidInput(field, f"{sku} is listed in components[{seen[sku]}] too; give its units there")
        seen[sku] = n
        if sku not in found:
            raise InvalidInput(field, f"unknown sku {sku}")
        if not found[sku].active:
            raise InvalidInput(field, f"{sku} is not active")
        if sku in nested:
            raise InvalidInput(field, f"{sku} is a kit itself; list its components instead")
    outer = await kits_containing(conn, kit)
    if outer:
        raise InvalidInput("sku", f"{kit} is a component of {', '.join(outer)}; a kit cannot be a component")
    await _drop_empty_stock(conn, kit)
    await conn.execute(kit_components.delete().where(kit_components.c.kit_sku == kit))
    await conn.execute(
        kit_components.insert(), [{"kit_sku": kit, "component_sku": sku, "quantity": q} for sku, q in components]
    )
    return {"sku": kit, "components": [{"sku": sku, "quantity": q} for sku, q in components]}


async def _drop_empty_stock(conn: AsyncConnection, kit: str) -> None:
    """A kit has no stock rows: rows that never held anything go, any other is a refusal. The
    rows are locked first, so a receipt cannot book into one between the look and the delete."""
    await conn.execute(sa.select(stock_levels.c.sku).where(stock_levels.c.sku == kit).with_for_update())
    booked = await conn.scalar(sa.select(sa.exists().where(movements.c.sku == kit)))
    if booked:
        raise InvalidInput("sku", f"{kit} has stock movements of its own; a kit's stock is its components'")
    try:
        async with conn.begin_nested():
            await conn.execute(stock_detail.delete().where(stock_detail.c.sku == kit))
            await conn.execute(stock_levels.delete().where(stock_levels.c.sku == kit))
    except sa.exc.IntegrityError:  # something else refers to its stock rows (a count, a policy)
        raise InvalidInput("sku", f"{kit} has stock records of its own; a kit's stock is its components'") from None


async def get_components(conn: AsyncConnection, kit: str) -> dict[str, Any]:
    if await conn.scalar(sa.select(skus.c.sku).where(skus.c.sku == kit)) is None:
        raise UnknownSku(kit)
    listed = (await components_of(conn, [kit])).get(kit, {})
    return {"sku": kit, "kit": bool(listed), "components": [{"sku": s, "quantity": q} for s, q in listed.items()]}
