"""What a buyer looks at: a sku's demand history at a location (null before the sku was
there), the forecast of the methods chosen for it, and an 80% interval from the
forecast's own one-period errors; as JSON and as a PNG."""

import io
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth import BUYER, OPERATOR, allow
from api.deps import ConnDep, SkuPath
from db import demand, queries
from db import promotions as pg_promotions
from domain import forecasting, promotions, replenishment
from domain.errors import InvalidInput, UnknownLocation, UnknownSku

router = APIRouter(prefix="/v1/forecasts", tags=["replenishment"])
Location = Annotated[str, Query(min_length=1, max_length=64, description="The location (required)")]
Horizon = Annotated[int, Query(ge=1, le=104, description="Periods to forecast")]


async def _forecast(conn, settings, sku: str, location: str, horizon: int) -> dict:
    if not await queries.sku_exists(conn, sku):
        raise UnknownSku(sku)
    if not await queries.location_exists(conn, location):
        raise UnknownLocation(location)
    freq = settings.replenishment_freq
    last = await demand.latest_period(conn, freq)
    if last is None:
        raise InvalidInput("sku", "there is no demand history at all yet (import some: stocksaga import-demand)")
    history, starts = await demand.history(conn, [(sku, location)], freq, last)
    period = forecasting.SEASON_LENGTH[freq]
    ahead = [demand.shift(freq, last, k) for k in range(1, horizon + 1)]
    calendar = await pg_promotions.calendar(conn, [(sku, location)], freq, starts + ahead)
    selection = forecasting.Selection(
        effects=promotions.learn_effects(history, calendar.codes[:, : len(starts)], calendar.kinds)
    )
    chosen = forecasting.forecast(history, horizon, period, selection, calendar)
    path = chosen.paths[0]
    f = forecasting.lead_time_forecast(history, 0, period, selection, calendar=calendar)
    errors = f.one_step[0][~np.isnan(f.one_step[0])]  # the forecast's own one-period errors at past origins
    spread = float(np.sqrt((errors**2).mean())) if len(errors) else 0.0
    zero = replenishment.zero_share(history, 1)
    low, high = replenishment.quantiles(
        path, np.full(len(path), spread**2), np.repeat(zero, len(path)), np.array([0.1, 0.9])
    )
    codes = calendar.codes[0, len(starts) :]
    return {
        "sku": sku,
        "location_id": location,
        "period": freq,
        "method": chosen.methods[0],
        "history": [
            {"period_start": d.isoformat(), "quantity": None if np.isnan(q) else float(q)}
            for d, q in zip(starts, history[0], strict=True)
        ],
        "forecast": [
            {
                "period_start": d.isoformat(),
                "quantity": round(float(v), 3),
                "low": round(float(lo), 3),
                "high": round(float(hi), 3),
                "promotion": calendar.kinds[code - 1] if code else None,
            }
            for d, v, lo, hi, code in zip(ahead, path, low, high, codes, strict=True)
        ],
        "interval": 0.8,
    }


@router.get(
    "/{sku}",
    dependencies=[allow(BUYER, OPERATOR)],
    summary="Demand history, forecast and 80% interval of a sku at a location",
)
async def forecast(sku: SkuPath, location: Location, conn: ConnDep, request: Request, horizon: Horizon = 12) -> dict:
    return await _forecast(conn, request.app.state.settings, sku, location, horizon)


@router.get(
    "/{sku}/plot.png",
    dependencies=[allow(BUYER, OPERATOR)],
    summary="The same as a picture",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def plot(sku: SkuPath, location: Location, conn: ConnDep, request: Request, horizon: Horizon = 12) -> Response:
    return Response(
        content=await forecast_png(conn, request.app.state.settings, sku, location, horizon), media_type="image/png"
    )


async def forecast_png(conn, settings, sku: str, location: str, horizon: int = 12) -> bytes:
    """The plot of a sku's history and forecast at a location (also the buyer screen's)."""
    return draw(await _forecast(conn, settings, sku, location, horizon))


def draw(data: dict) -> bytes:
    import matplotlib  # noqa: PLC0415 (only this route draws)

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    past = [h["period_start"] for h in data["history"]]
    ahead = [f["period_start"] for f in data["forecast"]]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=110)
    ax.bar(range(len(past)), [h["quantity"] or 0 for h in data["history"]], color="#9bb7d4", label="demand")
    xs = range(len(past), len(past) + len(ahead))
    ax.fill_between(
        xs,
        [f["low"] for f in data["forecast"]],
        [f["high"] for f in data["forecast"]],
        color="#f4b183",
        alpha=0.5,
        label=f"{data['interval']:.0%} interval",
    )
    ax.plot(
        xs,
        [f["quantity"] for f in data["forecast"]],
        color="#c55a11",
        linewidth=2,
        label=f"forecast ({data['method']})",
    )
    labels = past + ahead
    step = max(len(labels) // 12, 1)
    ax.set_xticks(
        range(0, len(labels), step), [labels[i][:7] for i in range(0, len(labels), step)], rotation=45, ha="right"
    )
    ax.set_ylabel("units per period")
    ax.set_title(f"{data['sku']} at {data['location_id']}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()
