"""Warehouse events applied: each is booked in the ledger with its event row in one
transaction (or handed to the workflow it concerns), mirrored into the Redis hot store, and
the orders, transfers and purchase orders it touches are told. Used by the API's warehouse
routes (api/wms.py) and by tests without HTTP; events that cannot be applied yet are kept as
dead letters with their reason and tried again when their subject moves on."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from db import orders as pg_orders
from db import picks as pg_picks
from db import procurement as pg_procurement
from db import queries, wms_batch
from db import returns as pg_returns
from db import waves as pg_waves
from db import wms as pg_wms
from db.hotstore import HoldLine, HotStore
from domain import wms
from domain.errors import InvalidInput, StockError
from domain.orders import order_workflow_id, step_key
from domain.procurement import OPEN
from services.updates import refusal
from stocksaga.settings import Settings
from workflows.order_messages import WarehouseStep, fills_by_order
from workflows.orders import OrderWorkflow
from workflows.procurement import ProcurementWorkflow
from workflows.returns import GoodsReceived, ReturnWorkflow, return_workflow_id
from workflows.transfer_messages import TransferInput
from workflows.transfers import TransferWorkflow
from workflows.waves import WaveWorkflow, wave_workflow_id

log = logging.getLogger("stocksaga.wms")


class Processor:
    """Applies warehouse events; used by the routes and by tests without HTTP."""

    def __init__(
        self, engine: AsyncEngine, hot_store: HotStore, temporal: Callable[[], Awaitable[Client]], settings: Settings
    ):
        self.engine = engine
        self.hot_store = hot_store
        self.temporal = temporal
        self.settings = settings

    async def process_all(self, events: list) -> list[dict]:
        """Each event's answer, in order. Runs of receipts and damage reports are booked a
        chunk per transaction (db/wms_batch.py); the rest one at a time."""
        results: list[dict] = []
        start = 0
        while start < len(events):
            end = start
            while end < len(events) and end - start < wms_batch.CHUNK and wms_batch.takes(events[end]):
                end += 1
            if end == start:
                results.append(await self._one(events[start]))
                start += 1
            else:
                results += await self._chunk(events[start:end])
                start = end
        return results

    async def _one(self, event) -> dict:
        result = await self.process(event)
        if result["status"] == "processed":
            retried = await self._retry_subject(wms.subject(event))
            if retried:
                result["retried"] = retried
        return result

    async def _chunk(self, events: list) -> list[dict]:
        try:
            async with self.engine.begin() as conn:
                booked = await wms_batch.book(conn, events)
        except wms_batch.Raced:  # the same events in another request at once: one at a time decides
            return [await self._one(event) for event in events]
        await self.hot_store.adjust_many(booked.hot)
        results = [booked.answers.get(event.event_id) or await self._one(event) for event in events]
        async with self.engine.connect() as conn:
            waiting = await pg_wms.subjects_waiting(conn, list(booked.subjects))
        for subject in waiting:  # dead letters these events may unblock, tried after the last of them
            retried = await self._retry_subject(subject)
            if retried:
                last = booked.subjects[subject]
                next(r for r in results if r["event_id"] == last)["retried"] = retried
        return results

    async def process(self, event) -> dict:
        """One event: processed, duplicate (already processed; nothing changed), conflict
        (the id was used for another event), or dead_letter (kept with its reason)."""
        try:
            if event.event_type in wms.ORDER_STEPS:
                return await self._order_step(event)
            if event.event_type == wms.EventType.RETURN_RECEIVED:
                return await self._return_received(event)
            return await self._stock_event(event)
        except StockError as err:
            reason = str(err)
        except (RPCError, RuntimeError, OSError) as err:  # Temporal unreachable: keep the event, try again later
            reason = f"temporal unavailable: {err}"
            log.warning("event %s kept as a dead letter: %s", event.event_id, reason)
        await pg_wms.dead_letter(self.engine, event, reason)
        return {"event_id": event.event_id, "status": "dead_letter", "reason": reason}

    async def _known(self, event, row: dict | None) -> dict | None:
        """The answer for an id seen before, or None if it is to be (re)processed."""
        if row is None or row["status"] != "processed":
            return None
        return pg_wms.known_answer(event, row)

    async def _seen(self, event) -> dict | None:
        """_known for an event whose effect lives in a workflow (no transaction to claim it in)."""
        async with self.engine.connect() as conn:
            return await self._known(event, await pg_wms.find(conn, event.event_id))

    # --- stock events: movements in one transaction with the event row --------------
    async def _stock_event(self, event) -> dict:
        t = event.event_type
        if t == wms.EventType.RECEIVING_COMPLETE and event.payload.purchase_order_id:
            routed = await self._to_purchase_order(event)
            if routed is not None:
                return routed
        effects = pg_wms.Effects()
        # `booked`: the stock effects are committed but a workflow is still to be told
        # (a transfer's watcher, orders whose backorders were filled); a repeat finishes it.
        booked = t in (wms.EventType.TRANSFER_SHIPPED, wms.EventType.TRANSFER_RECEIVED)
        transfer_status = None
        async with self.engine.begin() as conn:
            row = await pg_wms.claim(conn, event, "booked" if booked else "processed")
            known = await self._known(event, row)
            if known is not None:
                return known
            if row is not None and row["status"] == "booked":
                effects.detail = dict(row["result"])  # booked before; only the workflow steps are left
                transfer_status = effects.detail.get("transfer_status")
            elif t == wms.EventType.RECEIVING_COMPLETE:
                await pg_wms.receive(conn, event, effects)
            elif t == wms.EventType.DAMAGE_REPORT:
                await pg_wms.damage(conn, event, effects)
            elif t == wms.EventType.CYCLE_COUNT_ADJUSTMENT:
                await pg_wms.cycle_count(conn, event, effects)
            elif t == wms.EventType.TRANSFER_SHIPPED:
                await pg_wms.transfer_shipped(conn, event, effects)
            elif t == wms.EventType.TRANSFER_RECEIVED:
                transfer_status = await pg_wms.transfer_received(conn, event, effects)
            elif t in (wms.EventType.PUTAWAY, wms.EventType.BIN_MOVE):
                await pg_wms.bin_move(conn, event, effects)
            booked = booked or bool(effects.fills)
            await pg_wms.settle(conn, event.event_id, "booked" if booked else "processed", effects.detail)
        await self._mirror(event, effects)
        if effects.fills:
            await self._backorders_filled(effects.fills)
        if t in (wms.EventType.TRANSFER_SHIPPED, wms.EventType.TRANSFER_RECEIVED):
            await self._transfer_workflow(event, transfer_status)
        if booked:
            async with self.engine.begin() as conn:
                await pg_wms.settle(conn, event.event_id, "processed", effects.detail)
        return {"event_id": event.event_id, "status": "processed", "result": effects.detail}

    async def _mirror(self, event, effects: pg_wms.Effects) -> None:
        """The on_hand changes into the Redis hot store (Postgres has them already; if Redis
        disagrees, the sku is reloaded from Postgres). All at once, as the bulk path sends
        them: a sku Redis has not loaded is loaded once, after every change is marked as
        counted (loading on the first change would count the others twice: a two-lot
        receipt of a new sku once left Redis 5 units over)."""
        await self.hot_store.adjust_many(
            [(sku, loc, delta, f"wms:{event.event_id}:{n}") for n, (sku, loc, delta) in enumerate(effects.movements)]
        )

    async def _backorders_filled(self, fills: list[dict]) -> None:
        """Hold the filled units in the hot store too, and tell each order's workflow, which
        confirms and picks them. A workflow that has finished has released them already
        (its compensation releases every hold of the order in Postgres)."""
        by_order = fills_by_order(fills)
        for lines in by_order.values():
            for line in lines:
                await self.hot_store.mirror_hold(
                    self.engine, HoldLine(line.reservation_id, line.sku, line.location_id, line.quantity)
                )
        client = await self.temporal()
        for order_id, lines in by_order.items():
            try:
                await client.get_workflow_handle(order_workflow_id(order_id)).signal(
                    OrderWorkflow.backorder_filled, lines
                )
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                log.warning("order %s has finished; its filled backorder was released with it", order_id)

    async def _transfer_workflow(self, event, status: str | None) -> None:
        p = event.payload
        client = await self.temporal()
        if event.event_type == wms.EventType.TRANSFER_SHIPPED:
            try:
                await client.start_workflow(
                    TransferWorkflow.run,
                    TransferInput(
                        p.transfer_id,
                        p.source,
                        p.destination,
                        wms.merge_lines(p.lines),
                        self.settings.transfer_deadline_hours * 3600,
                    ),
                    id=f"transfer-{p.transfer_id}",
                    task_queue=self.settings.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
            except WorkflowAlreadyStartedError:
                pass  # a retry after the start went through
            return
        try:
            await client.get_workflow_handle(f"transfer-{p.transfer_id}").signal(TransferWorkflow.received, status)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            # the watcher has finished (fully received before): the ledger has the receipt

    async def _to_purchase_order(self, event) -> dict | None:
        """Signal the purchase order's ProcurementWorkflow while the PO is open (None when
        there is no such PO or it is closed: the receipt is booked as a plain one)."""
        known = await self._seen(event)
        if known is not None:
            return known
        po_id = event.payload.purchase_order_id
        async with self.engine.connect() as conn:
            tracked = await queries.tracked_skus(conn, [line.sku for line in event.payload.lines])
            po = await pg_procurement.get(conn, po_id)
        if tracked or any(line.tracked for line in event.payload.lines):
            # lots, serials, bins and barcodes are checked here, so a bad line is a dead letter
            # now rather than a refusal inside the purchase order's workflow (nothing is kept)
            async with self.engine.connect() as conn:
                trial = await conn.begin()
                try:
                    for n, line in enumerate(event.payload.lines):
                        await pg_wms.prepare_line(conn, f"lines[{n}]", event.location_id, line)
                finally:
                    await trial.rollback()
        if po is None or po["status"] not in OPEN:
            return None
        if po["location_id"] != event.location_id:
            raise pg_wms.Refused(f"purchase order {po_id} is due at {po['location_id']}, not {event.location_id}")
        handle = (await self.temporal()).get_workflow_handle(f"po-{po_id}")
        try:
            await handle.signal(ProcurementWorkflow.receiving_complete, event.model_dump(mode="json"))
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        result = {"routed_to": f"po-{po_id}"}
        await pg_wms.processed(self.engine, event, result)
        return {"event_id": event.event_id, "status": "processed", "result": result}

    # --- order events: the OrderWorkflow's warehouse_step Update --------------------
    async def _order_step(self, event) -> dict:
        known = await self._seen(event)
        if known is not None:
            return known
        p = event.payload
        picks = None
        if event.event_type == wms.EventType.PICK_COMPLETE and not await self._step_recorded(
            p.order_id, p.shipment_id, "picked"
        ):  # the lots, bins and serials must be there (a repeat of a booked pick is not checked again)
            async with self.engine.connect() as conn:
                try:
                    picks = await pg_picks.plan_picks(
                        conn, p.order_id, p.shipment_id, event.location_id, p.lines, datetime.now(UTC).date()
                    )
                except InvalidInput as err:
                    raise pg_wms.Refused(f"order {p.order_id}: {err}") from None
        handle = (await self.temporal()).get_workflow_handle(order_workflow_id(p.order_id))
        step = WarehouseStep(
            wms.ORDER_STEPS[event.event_type],
            p.shipment_id,
            p.tracking,
            event.event_id,
            event.location_id,
            wms.merge_lines(p.lines) if p.lines else None,
            picks,
        )
        try:
            answer = await handle.execute_update(OrderWorkflow.warehouse_step, step)
        except WorkflowUpdateFailedError as err:
            raise pg_wms.Refused(f"order {p.order_id}: {refusal(err)}") from None
        except RPCError as err:
            finished = "already completed" in str(err) or err.status == RPCStatusCode.FAILED_PRECONDITION
            if err.status != RPCStatusCode.NOT_FOUND and not finished:
                raise
            if await self._step_recorded(p.order_id, p.shipment_id, step.step):
                # The step went through and the order ended since; only this event's own record
                # was lost (the API or Postgres went away before writing it). It is a repeat.
                answer = "repeat"
            elif finished:
                raise pg_wms.Refused(f"order {p.order_id} is finished: {err.message}") from None
            else:
                raise pg_wms.Refused(f"unknown order {p.order_id}, or its workflow has finished") from None
        result = {"order_id": p.order_id, "shipment_id": p.shipment_id, "step": step.step, "workflow": answer}
        await pg_wms.processed(self.engine, event, result)
        if event.event_type == wms.EventType.PICK_COMPLETE:
            await self._tell_wave(p.order_id, p.shipment_id)
        return {"event_id": event.event_id, "status": "processed", "result": result}

    async def _tell_wave(self, order_id: str, shipment_id: str) -> None:
        """The shipment's pick wave (if it is in one) looks at its progress now. A signal lost
        here costs nothing but time: the wave looks again every WAVE_RECHECK_SECONDS."""
        async with self.engine.connect() as conn:
            wave_id = await pg_waves.wave_of(conn, order_id, shipment_id)
        if wave_id is None:
            return
        try:
            await (
                (await self.temporal())
                .get_workflow_handle(wave_workflow_id(wave_id))
                .signal(WaveWorkflow.shipment_picked)
            )
        except RPCError as err:
            log.warning("wave %s not told of %s/%s: %s", wave_id, order_id, shipment_id, err)

    # --- returns: the ReturnWorkflow's goods_received Update --------------------------
    async def _return_received(self, event) -> dict:
        known = await self._seen(event)
        if known is not None:
            return known
        p = event.payload
        async with self.engine.connect() as conn:
            found = await pg_returns.get(conn, p.return_id)
            if found is not None and found["received_event_id"] == event.event_id:
                # booked by this very event, whose own record was lost: a repeat
                result = {"return_id": p.return_id, "workflow": "repeat"}
                await pg_wms.processed(self.engine, event, result)
                return {"event_id": event.event_id, "status": "processed", "result": result}
            try:
                await pg_returns.check_receipt(conn, p.return_id, event.location_id, p.lines)
            except InvalidInput as err:
                raise pg_wms.Refused(f"return {p.return_id}: {err}") from None
        goods = GoodsReceived(event.event_id, event.location_id, [line.model_dump(mode="json") for line in p.lines])
        handle = (await self.temporal()).get_workflow_handle(return_workflow_id(p.return_id))
        try:
            answer = await handle.execute_update(ReturnWorkflow.goods_received, goods)
        except WorkflowUpdateFailedError as err:
            raise pg_wms.Refused(f"return {p.return_id}: {refusal(err)}") from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND or "already completed" in str(err):
                raise pg_wms.Refused(f"return {p.return_id} is not waiting for goods: {err.message}") from None
            raise
        result = {"return_id": p.return_id, "workflow": answer}
        await pg_wms.processed(self.engine, event, result)
        return {"event_id": event.event_id, "status": "processed", "result": result}

    async def _step_recorded(self, order_id: str, shipment_id: str, step: str) -> bool:
        """Whether the order's timeline has this shipment step (the OrderWorkflow records each
        one under the key it mints for it, workflows/orders.py _key)."""
        async with self.engine.connect() as conn:
            return await pg_orders.has_event(conn, order_id, step_key(order_id, f"{shipment_id}-{step}"))

    # --- dead letters ----------------------------------------------------------------
    async def retry(self, event_id: str) -> dict | None:
        """Process a dead letter again; None if there is no such dead letter."""
        async with self.engine.connect() as conn:
            row = await pg_wms.find(conn, event_id)
        if row is None or row["status"] == "processed":
            return None
        return (await self.process_all([stored_event(row)]))[0]

    async def _retry_subject(self, subject: str) -> list[dict]:
        """Dead letters of `subject`, tried again oldest first while any of them succeeds
        (a SHIP that came before its PICK goes through once the PICK did)."""
        done: list[dict] = []
        progress = True
        while progress:
            progress = False
            async with self.engine.connect() as conn:
                waiting = await pg_wms.dead_letters(conn, limit=100, subject=subject)
            for row in waiting:
                result = await self.process(stored_event(row))
                if result["status"] == "processed":
                    done.append({"event_id": row["event_id"], "status": "processed"})
                    progress = True
        return done


def stored_event(row: dict):
    return TypeAdapter(wms.WmsEvent).validate_python(
        {
            "event_id": row["event_id"],
            "event_type": row["event_type"],
            "location_id": row["location_id"],
            "occurred_at": row["occurred_at"],
            "payload": row["payload"],
        }
    )
