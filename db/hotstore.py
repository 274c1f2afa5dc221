"""The Redis hot store: fast, atomic admission and a copy of the levels that Postgres owns.

Keys are hash-tagged by sku so each Lua script touches one cluster slot:
  {prefix}:stock:{SKU}            hash  "<location>|on_hand" / "|reserved" / "|allocated" / "|sellable", "_loaded"
  {prefix}:hold:{SKU}:<res id>    "<location>|<qty>|<state>[|<admitted at>]"  (reserved, confirmed, released, picked)
  {prefix}:evt:{SKU}:<event id>   marker of an applied receive/adjust, kept for a week
  {prefix}:ver:{SKU}              counter bumped by every change of the sku's levels
  {prefix}:avail:{SKU}            the product-page display entry (db/display.py), dropped by every change
  {prefix}:metrics:drift          levels the last reconciliation found drifted
A sku that is not loaded answers "not_loaded"; the store then loads it from Postgres.
Postgres always wins: `rebuild` rewrites the hot store from it, and `drift` reports the
difference (invariant 4).
"""

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis
import sqlalchemy as sa
from redis.asyncio.cluster import RedisCluster
from sqlalchemy.ext.asyncio import AsyncEngine

from db.scripts import LuaScript
from db.tables import reservations, stock_levels
from db.verify import Violation
from domain import validation
from domain.errors import IdempotencyConflict, InsufficientStock
from domain.reservations import HELD, HoldState, hold_state, hot_transitions
from domain.stock import MovementKind, delta_for

_LUA = Path(__file__).parent / "lua"
_FIELDS = ("on_hand", "reserved", "allocated")
IN_FLIGHT_SECONDS = 60.0  # a hold admitted in Redis this recently is still being persisted by its saga
REPLACE_ATTEMPTS = 5  # reads of a sku that keeps changing under a reload before it is left for later


async def drop_prefix(client: aioredis.Redis, prefix: str) -> int:
    """Delete every key under `prefix` (a test run's or a benchmark's throw-away store);
    returns how many. Never point it at a prefix in use."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    async with client.pipeline(transaction=False) as pipe:  # one key a command: fine on a cluster
        for key in keys:
            pipe.unlink(key)
        return sum(await pipe.execute())


@dataclass(frozen=True)
class HoldLine:
    reservation_id: str
    sku: str
    location_id: str
    quantity: int


def _script_args(start: HoldState, end: HoldState | str, movement: MovementKind) -> tuple[str, str, str, str, bool]:
    """What hold_transition.lua needs of a move: from state, to state, the bucket its units
    leave, the bucket they enter, and whether they leave on_hand too (a pick)."""
    delta = delta_for(movement, 1)
    take = next((name for name in ("reserved", "allocated") if getattr(delta, name) < 0), "")
    put = next((name for name in ("reserved", "allocated") if getattr(delta, name) > 0), "")
    return start, end, take, put, delta.on_hand < 0


# action -> (from state, to state, take from bucket, put in bucket, also take on_hand): the
# domain's reservation machine (domain/reservations.py), and a rollback that forgets a hold
# admitted by a request that could not start its saga.
_TRANSITIONS = {
    action: _script_args(start, end, movement) for action, (start, end, movement) in hot_transitions().items()
}
_TRANSITIONS["rollback"] = _script_args(HoldState.RESERVED, "", MovementKind.RELEASE)


class HotStore:
    def __init__(
        self,
        client: aioredis.Redis,
        engine: AsyncEngine | None = None,
        prefix: str = "ss",
        event_ttl_seconds: int = 7 * 24 * 3600,
    ):
        self.redis = client
        self.engine = engine  # to load a sku on first use; None = callers load explicitly
        self.prefix = prefix
        self.event_ttl = event_ttl_seconds
        self._reserve = LuaScript(client, (_LUA / "reserve.lua").read_text())
        self._transition = LuaScript(client, (_LUA / "hold_transition.lua").read_text())
        self._adjust = LuaScript(client, (_LUA / "adjust.lua").read_text())
        self._load_if_absent = LuaScript(client, (_LUA / "load_if_absent.lua").read_text())
        self._replace = LuaScript(client, (_LUA / "replace_levels.lua").read_text())

    # keys ---------------------------------------------------------------------------
    def stock_key(self, sku: str) -> str:
        return f"{self.prefix}:stock:{{{sku}}}"

    def hold_key(self, sku: str, reservation_id: str) -> str:
        return f"{self.prefix}:hold:{{{sku}}}:{reservation_id}"

    def event_key(self, sku: str, event_id: str) -> str:
        return f"{self.prefix}:evt:{{{sku}}}:{event_id}"

    def version_key(self, sku: str) -> str:
        return f"{self.prefix}:ver:{{{sku}}}"

    def display_key(self, sku: str) -> str:
        return f"{self.prefix}:avail:{{{sku}}}"

    def drift_seen_key(self) -> str:
        """The skus the last reconciliation found drifted (a drift seen twice is repaired
        even while the sku keeps changing)."""
        return f"{self.prefix}:reconcile:drifted"

    def drift_key(self) -> str:
        """How many levels the last reconciliation found drifted (for /metrics)."""
        return f"{self.prefix}:metrics:drift"

    def _changes(self, sku: str) -> list[str]:
        """The keys every script that changes a sku's levels bumps and drops."""
        return [self.version_key(sku), self.display_key(sku)]

    # admission ----------------------------------------------------------------------
    async def reserve(self, line: HoldLine) -> int | None:
        """Hold one line. Returns units left available (None on a replay); raises
        InsufficientStock or IdempotencyConflict."""
        validation.identifier("sku", line.sku)
        validation.identifier("location_id", line.location_id)
        validation.identifier("reservation_id", line.reservation_id)
        validation.quantity(line.quantity)
        keys = [self.stock_key(line.sku), self.hold_key(line.sku, line.reservation_id), *self._changes(line.sku)]
        args = [line.location_id, line.quantity]
        status, value = await self._run_loading(self._reserve, line.sku, keys, args)
        if status == 1:
            return None if value == b"replayed" else int(value)
        if status == -2:
            raise IdempotencyConflict(line.reservation_id)
        raise InsufficientStock(line.sku, line.location_id, line.quantity, int(value))

    async def mirror_hold(self, engine: AsyncEngine, line: HoldLine) -> None:
        """Postgres holds this line: hold it here too. If Redis disagrees (it drifted, or was
        rebuilt without the hold), the sku is reloaded from Postgres, which has the hold."""
        try:
            await self.reserve(line)
        except (InsufficientStock, IdempotencyConflict):
            await self.repair(engine, [line.sku])

    async def reserve_all(self, lines: list[HoldLine]) -> None:
        """All lines or none: each line is atomic in its own slot; if one is refused, the
        lines already held are rolled back before the refusal is raised."""
        done: list[HoldLine] = []  # held by this call; repeats of earlier holds are not ours to undo
        try:
            for line in lines:
                if await self.reserve(line) is not None:
                    done.append(line)
        except BaseException:
            for line in reversed(done):
                await self.transition(line.sku, line.reservation_id, "rollback")
            raise

    async def transition(self, sku: str, reservation_id: str, action: str) -> str:
        """release | confirm | deallocate | pick | rollback a hold. Returns 'done', 'replayed',
        or the hold's state when the move does not apply to it ('unknown' if never held)."""
        src, dst, take, put, pick = _TRANSITIONS[action]
        keys = [self.stock_key(sku), self.hold_key(sku, reservation_id), *self._changes(sku)]
        ok, value = await self._transition(keys=keys, args=[src, dst, take, put, "1" if pick else "0", self.event_ttl])
        return value.decode()

    async def receive(self, sku: str, location_id: str, quantity: int, event_id: str) -> int | None:
        """Goods in: on_hand + quantity, once per event id."""
        return await self.adjust(sku, location_id, validation.quantity(quantity), event_id)

    async def adjust(self, sku: str, location_id: str, delta: int, event_id: str) -> int | None:
        """Mirror a receive (delta > 0) or adjustment of on_hand that Postgres has committed;
        idempotent by event id. Returns on_hand after (None on a replay, or when the sku was
        not in Redis: it is then loaded from Postgres, which already counts the change);
        raises InsufficientStock if holds would exceed on_hand."""
        status, value = await self._adjust(
            keys=self._adjust_keys(sku, event_id), args=[location_id, delta, self.event_ttl]
        )
        if status == -1:
            if self.engine is None:
                raise LookupError(f"sku {sku} is not loaded in the hot store and no database was given to load it")
            await self.load(self.engine, [sku], replace=False)
            return None
        if status == 1:
            return None if value == b"replayed" else int(value)
        raise InsufficientStock(sku, location_id, -delta, int(value))

    async def adjust_many(self, changes: list[tuple[str, str, int, str]]) -> None:
        """Mirror many on_hand changes Postgres has committed, (sku, location, delta, event id)
        each, in one round trip; idempotent by event id. A sku Redis has not loaded, or whose
        holds would no longer fit, is loaded from Postgres, which already counts the change."""
        if not changes:
            return
        if isinstance(self.redis, RedisCluster):  # a cluster pipeline takes no scripts: one call each
            replies = [
                await self._adjust(keys=self._adjust_keys(sku, event_id), args=[loc, delta, self.event_ttl])
                for sku, loc, delta, event_id in changes
            ]
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                for sku, loc, delta, event_id in changes:
                    await self._adjust(
                        keys=self._adjust_keys(sku, event_id), args=[loc, delta, self.event_ttl], client=pipe
                    )
                replies = await pipe.execute()
        unloaded = sorted({change[0] for change, (status, _) in zip(changes, replies, strict=True) if status == -1})
        disagreeing = sorted({change[0] for change, (status, _) in zip(changes, replies, strict=True) if status == 0})
        if self.engine is not None and unloaded:
            await self.load(self.engine, unloaded, replace=False)
        if self.engine is not None and disagreeing:
            await self.repair(self.engine, disagreeing)

    def _adjust_keys(self, sku: str, event_id: str) -> list[str]:
        return [self.stock_key(sku), self.event_key(sku, event_id), *self._changes(sku)]

    async def _run_loading(self, script, sku: str, keys: list[str], args: list) -> tuple[int, bytes | int]:
        status, value = await script(keys=keys, args=args)
        if status == -1 and self.engine is not None:
            await self.load(self.engine, [sku], replace=False)
            status, value = await script(keys=keys, args=args)
        if status == -1:
            raise LookupError(f"sku {sku} is not loaded in the hot store and no database was given to load it")
        return status, value

    # reads ----------------------------------------------------------------------------
    async def levels(self, sku: str, with_sellable: bool = False) -> dict[str, dict[str, int]] | None:
        """{location: {on_hand, reserved, allocated}} as Redis holds it (and `sellable` 0/1
        when asked); None if not loaded."""
        raw = await self.redis.hgetall(self.stock_key(sku))
        if b"_loaded" not in raw:
            return None
        wanted = (*_FIELDS, "sellable") if with_sellable else _FIELDS
        out: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            loc, _, bucket = field.decode().rpartition("|")
            if bucket in wanted:
                out.setdefault(loc, {name: 0 for name in wanted})[bucket] = int(value)
        return out

    async def available(self, sku: str) -> dict[str, int]:
        """Units free to admit per sellable location, loading the sku from Postgres if needed."""
        levels = await self.levels(sku, with_sellable=True)
        if levels is None and self.engine is not None:
            await self.load(self.engine, [sku], replace=False)
            levels = await self.levels(sku, with_sellable=True) or {}
        return {
            loc: max(level["on_hand"] - level["reserved"] - level["allocated"], 0)
            for loc, level in (levels or {}).items()
            if level["sellable"]
        }

    async def reserved_holds(self, admitted_before: float) -> list[HoldLine]:
        """Holds still in state reserved that were admitted before `admitted_before` (unix s)."""
        found: list[HoldLine] = []
        async for key in self.redis.scan_iter(match=f"{self.prefix}:hold:*", count=1000):
            value = await self.redis.get(key)
            if value is None:
                continue
            parts = value.decode().split("|")
            if len(parts) == 4 and parts[2] == HoldState.RESERVED and float(parts[3]) < admitted_before:
                name = key.decode()
                sku = name.split("{", 1)[1].split("}", 1)[0]
                found.append(HoldLine(name.split("}:", 1)[1], sku, parts[0], int(parts[1])))
        return found

    async def unpersisted_holds(self, engine: AsyncEngine, admitted_before: float) -> list[HoldLine]:
        """Holds still reserved in Redis, admitted before `admitted_before` (unix s), that
        Postgres has no reservation for: their saga never recorded them (the API died before
        starting it, or the saga could not persist them)."""
        candidates = await self.reserved_holds(admitted_before)
        if not candidates:
            return []
        async with engine.connect() as conn:
            persisted = set(
                await conn.scalars(
                    sa.select(reservations.c.reservation_id).where(
                        reservations.c.reservation_id.in_([h.reservation_id for h in candidates])
                    )
                )
            )
        return [hold for hold in candidates if hold.reservation_id not in persisted]

    async def overdue_holds(self, engine: AsyncEngine, older_than_seconds: float) -> list[Violation]:
        """Invariant 7 in Redis: holds admitted more than `older_than_seconds` ago (the
        longest a checkout may hold, plus a grace) that no saga ever recorded in Postgres."""
        now = time.time()
        return [
            Violation(
                "7 no hold outlives its expiry",
                h.sku,
                h.location_id,
                f"hold {h.reservation_id} ({h.quantity} units) is reserved in Redis, admitted more than "
                f"{older_than_seconds:.0f} s ago, and was never recorded in Postgres",
            )
            for h in await self.unpersisted_holds(engine, now - older_than_seconds)
        ]

    # rebuild from Postgres ------------------------------------------------------------
    async def load(
        self, engine: AsyncEngine, skus: list[str], replace: bool = True, in_flight_seconds: float = 0.0
    ) -> list[str]:
        """Copy the levels and live holds of `skus` from Postgres into Redis; returns the skus
        left as they were because Redis kept changing under the copy (see below).

        replace=True (rebuild, repair) overwrites what Redis has: Postgres wins. A hold
        admitted in Redis but not persisted is released, unless it was admitted within
        `in_flight_seconds`: repairs made while orders flow (`repair`) keep such holds, whose
        sagas are persisting them, or they would hand the same units out twice; a full
        rebuild (0) starts from Postgres alone. The write is conditional on the sku's version
        being the one read before the snapshot, so a hold admitted while the copy was being
        made is never dropped from `reserved`; a sku that changed is read again (a few times,
        then left for the next repair and returned).
        replace=False (first use) loads only skus not loaded yet, atomically per sku, so
        holds admitted by a concurrent caller are never wiped.
        """
        if not replace:
            fields, hold_values = await self._snapshot(engine, skus)
            for sku in skus:
                pairs = [item for pair in fields[sku].items() for item in pair]
                await self._load_if_absent(
                    keys=[self.stock_key(sku), *hold_values[sku]],
                    args=[len(fields[sku]), *pairs, *hold_values[sku].values()],
                )
            return []
        pending = list(skus)
        for _attempt in range(REPLACE_ATTEMPTS):
            versions = {sku: await self.redis.get(self.version_key(sku)) for sku in pending}
            fields, hold_values = await self._snapshot(engine, pending)
            existing = await self._hold_keys(pending)
            now = time.time()
            changed = []
            for sku in pending:
                if not await self._replace_one(
                    sku, versions[sku], fields[sku], hold_values[sku], existing[sku], now, in_flight_seconds
                ):
                    changed.append(sku)
            if not changed:
                return []
            pending = changed
        return pending

    async def repair(self, engine: AsyncEngine, skus: list[str]) -> list[str]:
        """Reload `skus` from Postgres while orders flow: holds admitted moments ago stay held.
        Returns the skus that kept changing and were left for the next repair."""
        return await self.load(engine, skus, in_flight_seconds=IN_FLIGHT_SECONDS)

    async def _snapshot(
        self, engine: AsyncEngine, skus: list[str]
    ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, str]]]:
        """Levels (hash fields) and live holds (hold key -> value) of `skus`, read in one
        snapshot so a hold persisted between the two reads is in both or in neither."""
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                levels = (
                    await conn.execute(
                        sa.select(
                            stock_levels.c.sku,
                            stock_levels.c.location_id,
                            stock_levels.c.sellable,
                            *[stock_levels.c[f] for f in _FIELDS],
                        ).where(stock_levels.c.sku.in_(skus))
                    )
                ).all()
                holds = (
                    await conn.execute(
                        sa.select(
                            reservations.c.reservation_id,
                            reservations.c.sku,
                            reservations.c.location_id,
                            reservations.c.quantity,
                            reservations.c.status,
                        ).where(reservations.c.sku.in_(skus), reservations.c.status.in_(HELD))
                    )
                ).all()
        fields: dict[str, dict[str, int]] = {sku: {} for sku in skus}
        for row in levels:
            fields[row.sku].update({f"{row.location_id}|{f}": getattr(row, f) for f in _FIELDS})
            fields[row.sku][f"{row.location_id}|sellable"] = int(row.sellable)
        hold_values: dict[str, dict[str, str]] = {sku: {} for sku in skus}
        for h in holds:
            state = hold_state(h.status)
            hold_values[h.sku][self.hold_key(h.sku, h.reservation_id)] = f"{h.location_id}|{h.quantity}|{state}"
        return fields, hold_values

    async def _replace_one(
        self,
        sku: str,
        version: bytes | None,
        fields: dict[str, int],
        hold_values: dict[str, str],
        existing: list[bytes],
        now: float,
        in_flight_seconds: float,
    ) -> bool:
        """Write one sku's snapshot unless its version moved on; False if it did."""
        # Holds Redis has but Postgres does not: one admitted moments ago is on its way (its
        # saga persists it within seconds), so it stays, its units still reserved; otherwise a
        # repair during a rush would hand its units out again. Older ones are marked released
        # rather than deleted, so a retried reserve of that id is still seen as a repeat.
        fields = dict(fields)
        stale = [key for key in existing if key.decode() not in hold_values]
        values = await self.redis.mget(stale) if stale else []
        released: list[tuple[str, str]] = []
        for key, value in zip(stale, values, strict=True):
            loc, qty, state, *admitted = (value or b"||").decode().split("|")
            if state == HoldState.RESERVED and admitted and now - float(admitted[0]) < in_flight_seconds:
                field = f"{loc}|reserved"
                fields[field] = fields.get(field, 0) + int(qty)
            elif state in (HoldState.RESERVED, HoldState.CONFIRMED):
                released.append((key.decode(), f"{loc}|{qty}|{HoldState.RELEASED}"))
        pairs = [item for pair in fields.items() for item in pair]
        written = await self._replace(
            keys=[
                self.stock_key(sku),
                self.version_key(sku),
                self.display_key(sku),
                *(key for key, _ in released),
                *hold_values,
            ],
            args=[
                (version or b"").decode(),
                self.event_ttl,
                len(fields),
                *pairs,
                len(released),
                *(value for _, value in released),
                *hold_values.values(),
            ],
        )
        return bool(written)

    async def _hold_keys(self, skus: list[str]) -> dict[str, list[bytes]]:
        """Existing hold keys of `skus`: one SCAN per sku for a few, one SCAN in all for many."""
        found: dict[str, list[bytes]] = {sku: [] for sku in skus}
        if len(skus) <= 20:
            for sku in skus:
                found[sku] = [key async for key in self.redis.scan_iter(match=self.hold_key(sku, "*"), count=1000)]
            return found
        async for key in self.redis.scan_iter(match=f"{self.prefix}:hold:*", count=1000):
            sku = key.decode().split("{", 1)[1].split("}", 1)[0]
            if sku in found:
                found[sku].append(key)
        return found

    async def rebuild(self, engine: AsyncEngine, batch: int = 500, progress=None) -> int:
        """Reload every sku that has stock levels; returns how many were loaded."""
        async with engine.connect() as conn:
            skus = list(await conn.scalars(sa.select(stock_levels.c.sku).distinct().order_by(stock_levels.c.sku)))
        for start in range(0, len(skus), batch):
            await self.load(engine, skus[start : start + batch])
            if progress:
                progress(min(start + batch, len(skus)), len(skus))
        return len(skus)

    async def unloaded(self, engine: AsyncEngine, batch: int = 1000) -> list[str]:
        """Skus Postgres has levels for that Redis does not hold at all: never used since the
        last rebuild, or lost with a Redis that came back empty."""
        async with engine.connect() as conn:
            skus = list(await conn.scalars(sa.select(stock_levels.c.sku).distinct().order_by(stock_levels.c.sku)))
        missing: list[str] = []
        for start in range(0, len(skus), batch):
            chunk = skus[start : start + batch]
            async with self.redis.pipeline(transaction=False) as pipe:  # one key per command: fine on a cluster
                for sku in chunk:
                    pipe.hexists(self.stock_key(sku), "_loaded")
                loaded = await pipe.execute()
            missing += [sku for sku, present in zip(chunk, loaded, strict=True) if not present]
        return missing

    async def changed_within(self, engine: AsyncEngine, skus: list[str], seconds: float) -> set[str]:
        """Those of `skus` whose levels changed in Postgres in the last `seconds` (by
        Postgres's clock): their writers may still be mirroring the change into Redis."""
        if not skus or seconds <= 0:
            return set()
        async with engine.connect() as conn:
            return set(
                await conn.scalars(
                    sa.select(stock_levels.c.sku)
                    .distinct()
                    .where(
                        stock_levels.c.sku.in_(skus),
                        stock_levels.c.updated_at > sa.func.now() - timedelta(seconds=seconds),
                    )
                )
            )

    async def drift(self, engine: AsyncEngine, sku: str | None = None) -> list[Violation]:
        """Invariant 4: loaded hot-store levels that differ from the Postgres projection."""
        query = sa.select(stock_levels.c.sku, stock_levels.c.location_id, *[stock_levels.c[f] for f in _FIELDS])
        if sku is not None:
            query = query.where(stock_levels.c.sku == sku)
        async with engine.connect() as conn:
            rows = (await conn.execute(query.order_by(stock_levels.c.sku))).all()
        found: list[Violation] = []
        cache: dict[str, dict | None] = {}
        for row in rows:
            if row.sku not in cache:
                cache[row.sku] = await self.levels(row.sku)
            hot = cache[row.sku]
            if hot is None:
                continue  # not loaded: nothing to drift; it is loaded from Postgres on first use
            got = hot.get(row.location_id, {name: 0 for name in _FIELDS})
            diffs = [f"{f}: redis {got[f]}, postgres {getattr(row, f)}" for f in _FIELDS if got[f] != getattr(row, f)]
            if diffs:
                found.append(Violation("4 hot store = Postgres projection", row.sku, row.location_id, ", ".join(diffs)))
        return found
