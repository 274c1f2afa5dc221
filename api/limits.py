"""The request-size limit, in front of everything (the purchase fast path included): a
body larger than the limit is answered 413 before any of it reaches a route, so nothing is
applied. Warehouse event batches have a limit of their own (WMS_MAX_REQUEST_BYTES), every
other request MAX_REQUEST_BYTES."""

import json

WMS_EVENTS = "/v1/wms/events"


class BodyLimit:
    def __init__(self, app, max_bytes: int, wms_max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.wms_max_bytes = wms_max_bytes

    def __getattr__(self, name):  # state, openapi, routes ...: the wrapped app's
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        wms = scope["path"] == WMS_EVENTS
        limit = self.wms_max_bytes if wms else self.max_bytes
        setting = "WMS_MAX_REQUEST_BYTES" if wms else "MAX_REQUEST_BYTES"
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _too_large(send, limit, setting)
        chunks, size, more = [], 0, True
        while more:  # the whole body, counted as it arrives (a chunked body declares no length)
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _too_large(send, limit, setting)
            chunks.append(chunk)
            more = message.get("more_body", False)
        given = False

        async def replay():
            nonlocal given
            if given:
                return await receive()  # after the body: what the client does next (a disconnect)
            given = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send, limit: int, setting: str) -> None:
    body = json.dumps(
        {
            "error": "payload_too_large",
            "field": "body",
            "message": f"the body is larger than {limit} bytes ({setting}); nothing was applied: "
            f"send it in smaller requests",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
