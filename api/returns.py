"""Returns (RMA): authorise one against what an order shipped, read it."""

import hashlib
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.app_state import temporal_client
from api.auth import OPERATOR, STOREFRONT, WAREHOUSE, allow
from api.deps import ConnDep, IdempotencyKey, SettingsDep
from api.schemas import ReturnIn
from db import returns as pg_returns
from domain import validation
from domain.errors import NotFound
from workflows.returns import ReturnInput, ReturnWorkflow, return_workflow_id

router = APIRouter(prefix="/v1", tags=["returns"])


@router.post(
    "/orders/{order_id}/returns",
    dependencies=[allow(STOREFRONT, OPERATOR)],
    status_code=201,
    summary="Authorise a return of shipped units: the ReturnWorkflow waits for the goods",
    responses={
        200: {"description": "a repeat (same Idempotency-Key and lines): the return as it is now"},
        422: {
            "description": "nothing shipped, more than shipped (less earlier returns), after the return window, "
            "or the key used for another return"
        },
    },
)
async def create_return(
    order_id: str, body: ReturnIn, request: Request, key: IdempotencyKey, settings: SettingsDep
) -> JSONResponse:
    validation.identifier("order_id", order_id)
    return_id = "RMA-" + hashlib.sha256(f"{order_id}:{key}".encode()).hexdigest()[:12]
    lines = [line.model_dump(exclude_none=True) for line in body.lines]
    async with request.app.state.engine.begin() as conn:
        found, created = await pg_returns.authorise(
            conn,
            return_id,
            order_id,
            lines,
            datetime.now(UTC),
            settings.return_window_days,
            settings.return_receive_days,
        )
    try:  # a repeat starts it too, in case the first attempt could not reach Temporal
        await (await temporal_client(request.app)).start_workflow(
            ReturnWorkflow.run,
            ReturnInput(
                return_id,
                order_id,
                max((datetime.fromisoformat(found["expires_at"]) - datetime.now(UTC)).total_seconds(), 0.0),
            ),
            id=return_workflow_id(return_id),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Return {return_id} of order {order_id}: "
            + ", ".join(f"{line['quantity']} x {line['sku']}" for line in lines),
        )
    except WorkflowAlreadyStartedError:
        pass
    except (RPCError, RuntimeError, OSError) as err:
        return JSONResponse(
            status_code=503,
            content={
                "error": "temporal_unavailable",
                "message": f"the return is authorised but its workflow could not start ({err}); "
                "send the request again with the same Idempotency-Key",
                "return_id": return_id,
            },
        )
    return JSONResponse(
        status_code=201 if created else 200, content=found, headers={"Location": f"/v1/returns/{return_id}"}
    )


@router.get(
    "/returns/{return_id}",
    dependencies=[allow(STOREFRONT, WAREHOUSE, OPERATOR)],
    summary="A return: its lines, status, what came back and in which condition, when it expires",
)
async def get_return(return_id: str, conn: ConnDep) -> dict:
    validation.identifier("return_id", return_id)
    found = await pg_returns.get(conn, return_id)
    if found is None:
        raise NotFound("return_id", f"return {return_id}")
    return found
