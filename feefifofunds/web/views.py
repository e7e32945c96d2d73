"""Server-rendered dashboard: the asset list with coverage, and one asset's candlestick chart with gaps.

Reading needs no login (the Django admin keeps its own). The chart page renders the form and the series
choice on the server; the chart itself loads its candles and gaps from the JSON API.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from feefifofunds.models import Asset
from feefifofunds.store.client import QuestDBError

from . import coverage
from .api import (
    ApiError,
    coverage_dicts,
    filter_assets,
    interval_label,
    iso,
    parse_int_choice,
    parse_quote,
    parse_range,
    parse_source,
    parse_ticker,
    single,
)

DEFAULT_CHART_CANDLES = 500


def _error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return render(request, "feefifofunds/error.html", {"error": exc}, status=exc.status)


@require_GET
def asset_list(request: HttpRequest) -> HttpResponse:
    try:
        assets = list(filter_assets(request.GET))
    except ApiError as exc:
        return _error(request, exc)
    try:
        series = coverage.series_coverage()
        gap_counts = coverage.open_gap_counts()
        store_error = None
    except QuestDBError as exc:
        series, gap_counts, store_error = [], None, str(exc)
    rows = []
    for asset in assets:
        cov = coverage_dicts(asset.pk, series, gap_counts)
        for c in cov:
            c["interval_label"] = interval_label(c["interval_minutes"])
        rows.append({"asset": asset, "coverage": cov})
    return render(request, "feefifofunds/asset_list.html", {
        "rows": rows,
        "q": single(request.GET, "q") or "",
        "tier": (single(request.GET, "tier") or "").upper(),
        "category": (single(request.GET, "category") or "").upper(),
        "tiers": Asset.Tier.choices,
        "categories": Asset.Category.choices,
        "store_error": store_error,
    })


@require_GET
def asset_page(request: HttpRequest, ticker: str) -> HttpResponse:
    try:
        asset = parse_ticker(ticker)
        params = request.GET
        series = coverage.series_coverage(asset_id=asset.pk)
        default = _default_series(asset, series)
        interval = parse_int_choice(single(params, "interval"), "interval", coverage.INTERVALS,
                                    default.interval_minutes if default else 60)
        quote = parse_quote(single(params, "quote"), default.quote_currency if default else asset.quote_currency)
        source = parse_source(single(params, "source"))
        resample = parse_int_choice(single(params, "resample"), "resample", coverage.RESAMPLE_TARGETS, None)
        if resample is not None and not coverage.can_resample(interval, resample):
            raise ApiError(400, "invalid_parameter", "resample must be a coarser multiple of the interval", "resample")
        start, end = parse_range(params)
        matching = [c for c in series if c.interval_minutes == interval and c.quote_currency == quote
                    and (source is None or c.source == source)]
        if source is None and len({c.source for c in matching}) > 1:
            source = sorted(c.source for c in matching)[0]
            matching = [c for c in matching if c.source == source]
    except ApiError as exc:
        return _error(request, exc)
    except QuestDBError as exc:
        return _error(request, ApiError(503, "store_unavailable", str(exc)))
    step = timedelta(minutes=resample or interval)
    if matching and end is None:
        end = max(c.last for c in matching) + timedelta(minutes=interval)
    if matching and start is None:
        start = max(min(c.first for c in matching), end - DEFAULT_CHART_CANDLES * step)

    by_quote: dict[str, list] = defaultdict(list)
    for c in series:
        by_quote[c.quote_currency].append(c)
    chart = {
        "ticker": asset.ticker,
        "interval": interval,
        "quote": quote,
        "source": source or (matching[0].source if matching else None),
        "resample": resample,
        "start": iso(start),
        "end": iso(end),
        "candlesUrl": reverse("feefifofunds-api:candles"),
        "gapsUrl": reverse("feefifofunds-api:gaps"),
    }
    return render(request, "feefifofunds/asset_page.html", {
        "asset": asset,
        "series": [{**c.__dict__, "interval_label": interval_label(c.interval_minutes)} for c in series],
        "has_data": bool(matching),
        "chart": chart,
        "interval": interval,
        "quote": quote,
        "source": source or "",
        "resample": resample,
        "start_value": start.strftime("%Y-%m-%dT%H:%M") if start else "",
        "end_value": end.strftime("%Y-%m-%dT%H:%M") if end else "",
        "intervals": [(i, interval_label(i)) for i in coverage.INTERVALS],
        "resample_targets": [(i, interval_label(i)) for i in coverage.RESAMPLE_TARGETS],
        "quotes": sorted(by_quote) or [asset.quote_currency],
        "sources": sorted({c.source for c in series}),
    })


def _default_series(asset: Asset, series: list[coverage.SeriesCoverage]):
    """The series a chart opens on: the asset's own quote currency first, then the finest interval."""
    if not series:
        return None
    return min(series, key=lambda c: (c.quote_currency != asset.quote_currency, c.interval_minutes, c.source))
