"""The flash-sale purchase without FastAPI's layers: under a rush almost every request is
a loser answered from one Redis script, and routing through some sixty routes, the
middleware stack and dependency solving cost more than the script does. This ASGI wrapper
answers `POST /v1/flash-sales/{id}/purchase` itself (the same `purchase_answer` as the
route) when the request is well formed and carries a storefront (or admin) key; a
malformed or unauthorised request goes on to the FastAPI app, so its errors read exactly
as everywhere else."""

import email.message
import json
import re
from contextlib import nullcontext

from opentelemetry import propagate, trace

from api.auth import STOREFRONT, bearer_token
from api.flash_sales import purchase_answer, service_of
from api.schemas import PurchaseIn
from domain import access, validation

_PATH = re.compile(r"^/v1/flash-sales/([A-Za-z0-9][A-Za-z0-9._:-]{0,63})/purchase$")
_KEY = re.compile(validation.KEY_PATTERN)
_ROUTE = "/v1/flash-sales/{sale_id}/purchase"
_PURCHASERS = frozenset({STOREFRONT})  # and the admin (access.may)


class FastPaths:
    def __init__(self, app, traced: bool = False):
        self.app = app
        self.traced = traced  # tracing on: the answers it makes get a server span as FastAPI's do

    def __getattr__(self, name):  # state, openapi, routes ...: the FastAPI app's
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not (found := _PATH.match(scope["path"])):
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)

        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        key = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"idempotency-key"), None)
        token = bearer_token(scope["headers"])
        try:
            holder = await self.app.state.keys.holder(token) if token else None
            if holder is None or not access.may(holder.role, _PURCHASERS):
                raise ValueError("no key of the storefront")
            if key is None or not _KEY.match(key):
                raise ValueError("no usable Idempotency-Key")
            if not _json_body(scope["headers"]):
                raise ValueError("not a JSON body")  # the route answers 422, as for any JSON route
            request = PurchaseIn.model_validate(json.loads(body))  # as FastAPI reads it: json.loads, then python mode
        except Exception:  # noqa: BLE001 (a bad request, a wrong key, Postgres down: FastAPI names the problem)
            return await self.app(scope, replay, send)
        # From here on it runs once: a failure is the server's (500), not retried on the route.
        with self._span(scope) as span:
            status, content, headers = await purchase_answer(service_of(self.app), found.group(1), request, key)
            if span is not None:
                span.set_attribute("http.response.status_code", status)
        payload = json.dumps(content, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    *[(k.lower().encode(), v.encode()) for k, v in headers.items()],
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _span(self, scope):
        """A server span named as FastAPI names the route's, continuing the caller's trace
        (traceparent); a winner's OrderWorkflow then joins the trace like any order's."""
        if not self.traced:
            return nullcontext()
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        return trace.get_tracer("stocksaga.fastpath").start_as_current_span(
            f"POST {_ROUTE}",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={
                "http.request.method": "POST",
                "http.route": _ROUTE,
                "url.path": scope["path"],
                "stocksaga.fast_path": True,
            },
        )


def _json_body(headers) -> bool:
    """Whether FastAPI would read the body as JSON: application/json or application/*+json.
    Anything else, no content type included (FastAPI's strict_content_type), reaches the
    model as bytes and fails it with a 422."""
    value = next((v.decode("latin-1") for k, v in headers if k == b"content-type"), None)
    if not value:
        return False
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))
