"""Clients the app holds, connected on first use."""

from fastapi import FastAPI
from temporalio.client import Client

from stocksaga.settings import Settings


async def temporal_client(app: FastAPI) -> Client:
    """Connected on first use, so the API starts (and serves reads) while Temporal is down."""
    if app.state.temporal is None:
        settings: Settings = app.state.settings
        app.state.temporal = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    return app.state.temporal
