"""Clients the app holds, connected on first use."""

from fastapi import FastAPI
from temporalio.client import Client

from stocksaga import telemetry
from stocksaga.settings import Settings


class TemporalUnavailable(RuntimeError):
    """Temporal could not be reached (a RuntimeError, as the SDK's own connect failure is, so
    routes that catch that go on doing so); anywhere else it is a 503 (api/errors.py)."""


async def temporal_client(app: FastAPI) -> Client:
    """Connected on first use, so the API starts (and serves reads) while Temporal is down.
    With tracing on, what it starts or signals carries the request's span (the workflow's
    spans continue the request's trace)."""
    if app.state.temporal is None:
        settings: Settings = app.state.settings
        try:
            app.state.temporal = await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                interceptors=telemetry.temporal_interceptors(settings),
            )
        except RuntimeError as err:
            raise TemporalUnavailable(f"cannot connect to Temporal at {settings.temporal_address}: {err}") from err
    return app.state.temporal
