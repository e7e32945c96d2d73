"""Server-rendered dashboard: the asset list with coverage, and one asset's candlestick chart with gaps.

Reading needs no login (the Django admin keeps its own). The chart page renders the form and the series
choice on the server; the chart itself loads its candles and gaps, page by page, from the JSON API.
Parameters are validated by the same models as the API's (``params.py``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from feefifofunds.catalog import calendar_of
from feefifofunds.models import Asset
from feefifofunds.store import coverage
from feefifofunds.timeframes import INTERVALS

from . import errors
from .api import coverage_by_asset, filter_assets, interval_label, iso
from .params import ApiError, AssetListQuery, ChartQuery, get_asset, parse_query

DEFAULT_CHART_CANDLES = 500
ASSETS_PER_PAGE = 100


def _error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return errors.error_page(request, exc.status, exc.code, exc.message)


@require_GET
def asset_list(request: HttpRequest) -> HttpResponse:
    """One page of the catalog (ASSETS_PER_PAGE assets) with each series' coverage and open gaps."""
    try:
        f = parse_query(request.GET, AssetListQuery)
    except ApiError as exc:
        return _error(request, exc)
    paginator = Paginator(filter_assets(f).values("id", "ticker", "name", "category", "tier"), ASSETS_PER_PAGE)
    page = paginator.get_page(f.page)
    by_asset = coverage_by_asset(coverage.store_version(), with_gaps=True)
    tiers, categories = dict(Asset.Tier.choices), dict(Asset.Category.choices)
    page_url = reverse("asset-page", args=["TICKER"]).replace("TICKER", "{}")
    rows = []
    for a in page.object_list:
        cov = [{**c, "interval_label": interval_label(c["interval_minutes"])} for c in by_asset.get(a["id"], [])]
        rows.append({**a, "tier_label": tiers.get(a["tier"], ""), "category_label": categories.get(a["category"], ""),
                     "href": page_url.format(a["ticker"]), "coverage": cov})
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "feefifofunds/asset_list.html", {
        "rows": rows,
        "page": page,
        "page_query": query.urlencode(),
        "q": f.q or "",
        "tier": f.tier or "",
        "category": f.category or "",
        "tiers": Asset.Tier.choices,
        "categories": Asset.Category.choices,
    })


@require_GET
def asset_page(request: HttpRequest, ticker: str) -> HttpResponse:
    try:
        asset = get_asset(ticker)
        p = parse_query(request.GET, ChartQuery)
        series = coverage.series_coverage(asset_id=asset.pk)
        default = _default_series(asset, series)
        interval = int(p.interval) if p.interval is not None else (default.interval_minutes if default else 60)
        source = p.source
        quote = p.quote or coverage.default_quote(series, interval, source, asset.quote_currency)
        resample = int(p.resample) if p.resample is not None else None
        if resample is not None and not coverage.can_resample(interval, resample):
            raise ApiError(400, "invalid_parameter", "resample must be a coarser multiple of the interval", "resample")
        start, end = p.start, p.end
        matching = [c for c in series if c.interval_minutes == interval and c.quote_currency == quote
                    and (source is None or c.source == source)]
        if source is None and len({c.source for c in matching}) > 1:
            source = sorted(c.source for c in matching)[0]
            matching = [c for c in matching if c.source == source]
    except ApiError as exc:
        return _error(request, exc)
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
        "calendar": calendar_of(asset),
        "series": [{**c.__dict__, "interval_label": interval_label(c.interval_minutes)} for c in series],
        "has_data": bool(matching),
        "chart": chart,
        "interval": interval,
        "quote": quote,
        "source": source or "",
        "resample": resample,
        "start_value": start.strftime("%Y-%m-%dT%H:%M") if start else "",
        "end_value": end.strftime("%Y-%m-%dT%H:%M") if end else "",
        "intervals": [(i, interval_label(i)) for i in INTERVALS],
        "resample_targets": [(i, interval_label(i)) for i in coverage.RESAMPLE_TARGETS],
        "quotes": sorted(by_quote) or [asset.quote_currency],
        "sources": sorted({c.source for c in series}),
    })


def _default_series(asset: Asset, series: list[coverage.SeriesCoverage]):
    """The series a chart opens on: the asset's own quote currency first, then USD, then the finest interval."""
    if not series:
        return None
    return min(series, key=lambda c: (c.quote_currency != asset.quote_currency, c.quote_currency != "USD",
                                      c.interval_minutes, c.source))
