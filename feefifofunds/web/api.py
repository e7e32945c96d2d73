"""Read-only JSON API on django-ninja: assets with coverage, candles (optionally resampled in QuestDB), gaps.

Parameters are typed (``params.py``) and the OpenAPI description at ``/api/openapi.json`` (browsable at
``/api/docs``) is generated from them. A bad parameter is a 400 (404 for an unknown ticker) with the body
``{"error": {"status", "code", "message", "parameter"}}``; store trouble is a JSON 503/500 (``errors.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from ninja import NinjaAPI, Query
from ninja.errors import ValidationError
from ninja.openapi.docs import Swagger

from feefifofunds import calendars
from feefifofunds.catalog import calendar_of
from feefifofunds.gaps import summary
from feefifofunds.models import Asset
from feefifofunds.store import coverage, kept
from feefifofunds.timeframes import epoch_micros

from . import errors
from .params import (
    ApiError,
    AssetFilter,
    AssetsQuery,
    CandlesQuery,
    GapsQuery,
    Params,
    SeriesQuery,
    bad,
    check_query,
    error_from_pydantic,
    get_asset,
)


class LocalSwagger(Swagger):
    """The docs page from Ninja's own template and static files, served by the app (never a CDN). Ninja
    is not an installed app (``settings.NINJA_DIR`` says why), so its own ``Swagger`` would use the CDN."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {"swagger_settings": json.dumps(self.settings, indent=1), "api": api,
                   "add_csrf": False}  # no operation authenticates by cookie: no CSRF token to send
        return render(request, self.template, context)


api = NinjaAPI(
    title="FeeFiFoFunds API",
    version="1",
    description="Read-only market data: the asset catalog with per-series coverage, candles and gaps.",
    urls_namespace="feefifofunds-api",
    docs=LocalSwagger(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> JsonResponse:
    return errors.json_error(exc.status, exc.code, exc.message, exc.parameter)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> JsonResponse:
    return _api_error(request, error_from_pydantic(exc.errors))


@api.exception_handler(coverage.CoverageError)
def _coverage_error(request: HttpRequest, exc: coverage.CoverageError) -> JsonResponse:
    return errors.json_error(400, "invalid_request", str(exc))


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


ASSET_FIELDS = ("ticker", "name", "category", "tier", "quote_currency", "active")


def asset_dict(asset: Asset) -> dict:
    return {f: getattr(asset, f) for f in ASSET_FIELDS}


def coverage_dicts(asset_id: int, series: list[coverage.SeriesCoverage], gap_counts: dict | None) -> list[dict]:
    return [{
        "interval_minutes": c.interval_minutes,
        "quote_currency": c.quote_currency,
        "source": c.source,
        "first": iso(c.first),
        "last": iso(c.last),
        "candles": c.candles,
        "open_gaps": None if gap_counts is None else gap_counts.get(c.key, 0),
    } for c in series if c.asset_id == asset_id]


def coverage_by_asset(version: str, with_gaps: bool) -> dict[int, list[dict]]:
    """Every asset's coverage as the API shows it, built once per store version."""
    def build() -> dict[int, list[dict]]:
        gap_counts = summary.open_gap_counts(version=version) if with_gaps else None
        by_asset: dict[int, list] = {}
        for c in coverage.series_coverage(version=version):
            by_asset.setdefault(c.asset_id, []).append(c)
        return {a: coverage_dicts(a, series, gap_counts) for a, series in by_asset.items()}

    return coverage.cached(f"coverage-dicts-{int(with_gaps)}", version, build)


def gaps_state() -> dict:
    """Whether the open-gap counts are known: ``gap_detection`` false (and a note) until the store's gaps are
    built, and every count is then null, never zero."""
    if kept.is_built():
        return {"gap_detection": True}
    return {"gap_detection": False, "gaps_note": kept.NOT_BUILT}


def filter_assets(f: AssetFilter):
    """The catalog filtered by ``q`` (ticker or name), ``tier`` and ``category``; shared with the dashboard."""
    from django.db.models import Q

    qs = Asset.objects.all().order_by("ticker")
    if f.q:
        qs = qs.filter(Q(ticker__icontains=f.q) | Q(name__icontains=f.q))
    if f.tier:
        qs = qs.filter(tier=f.tier)
    if f.category:
        qs = qs.filter(category=f.category)
    return qs


def gap_dict(gap: summary.SpanGap) -> dict:
    return {"start": iso(gap.start), "end": iso(gap.end), "missing_candles": gap.missing_candles}


def _strict(request: HttpRequest, model, p=None) -> None:
    check_query(request.GET, model)
    if p is not None:
        p.check_range()


def _series(p: SeriesQuery, version: str) -> tuple[Asset, str, coverage.SeriesCoverage | None]:
    """The asset, the quote currency (the one that exists when none was given) and the series' coverage."""
    asset = get_asset(p.ticker)
    interval = int(p.interval)
    series = coverage.series_coverage(asset_id=asset.pk, version=version)
    quote = p.quote or coverage.default_quote(series, interval, p.source, asset.quote_currency)
    matching = [c for c in series if c.interval_minutes == interval and c.quote_currency == quote
                and (p.source is None or c.source == p.source)]
    if len(matching) > 1:
        raise coverage.CoverageError(
            f"the series has candles from several sources ({', '.join(c.source for c in matching)}): choose one")
    return asset, quote, (matching[0] if matching else None)


def _next_url(request: HttpRequest, name: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = request.GET.copy()
    query["cursor"] = cursor
    return f"{reverse('feefifofunds-api:' + name)}?{query.urlencode()}"


# ---------------------------------------------------------------- endpoints


@api.get("/assets", url_name="assets", summary="Assets with the coverage of each series")
def assets(request: HttpRequest, p: Query[AssetsQuery]):
    """Every asset matching the filters, with first/last candle, candle count and open gaps per series."""
    _strict(request, AssetsQuery)
    rows = list(filter_assets(p).values("id", *ASSET_FIELDS))
    by_asset = coverage_by_asset(coverage.store_version(), p.gaps == "1")
    return {
        "count": len(rows),
        **gaps_state(),
        "assets": [{**{f: r[f] for f in ASSET_FIELDS}, "coverage": by_asset.get(r["id"], [])} for r in rows],
    }


@api.get("/assets/{ticker}", url_name="asset", summary="One asset with the coverage of each series")
def asset_detail(request: HttpRequest, ticker: str):
    if request.GET:
        _strict(request, Params)
    asset = get_asset(ticker)
    version = coverage.store_version()
    series = coverage.series_coverage(asset_id=asset.pk, version=version)
    # Only this asset's series are scanned (each once per store version), never the whole store.
    gap_counts = summary.open_gaps_of(series, version=version)
    return {**asset_dict(asset), "calendar": calendar_of(asset), **gaps_state(),
            "coverage": coverage_dicts(asset.pk, series, gap_counts)}


@api.get("/candles", url_name="candles", summary="Candles of one series, a page at a time")
def candles(request: HttpRequest, p: Query[CandlesQuery]):
    """Candles in [start, end) ordered by time; follow ``next`` (or pass ``cursor``) for the next page. For an
    asset whose market keeps hours (``calendar``), each candle has a ``session``: regular, extended (pre- and
    after-market) or off_calendar (a day the market was closed)."""
    _strict(request, CandlesQuery, p)
    interval = int(p.interval)
    resample = int(p.resample) if p.resample is not None else None
    if resample is not None and not coverage.can_resample(interval, resample):
        raise bad("resample", f"resample must be a multiple of interval ({interval}) and coarser than it")
    if p.cursor is not None and resample is not None and int(p.cursor.timestamp()) % (resample * 60):
        raise bad("cursor", "cursor must be a value returned as next_cursor")
    asset, quote, series = _series(p, coverage.store_version())
    rows = []
    if series is not None:
        rows = coverage.series_candles(series, start=p.start, end=p.end, resample=resample, after=p.cursor,
                                       limit=p.limit + 1)
    next_cursor = None
    if len(rows) > p.limit:
        next_cursor = iso(rows[p.limit][0])
        rows = rows[:p.limit]
    columns = coverage.RESAMPLED_COLUMNS if resample else coverage.CANDLE_COLUMNS
    data = [{col: (iso(v) if col == "time" else v) for col, v in zip(columns, r, strict=True)} for r in rows]
    calendar = calendar_of(asset)
    if data and resample is None and not calendars.follows_grid(calendar, interval):
        # A market with hours: each candle says whether it is a regular, an extended-hours or an off-calendar one.
        times = np.asarray([epoch_micros(r[0]) for r in rows], dtype=np.int64)
        for d, label in zip(data, calendars.session_labels(calendar, interval, times), strict=True):
            d["session"] = label
    return {
        "ticker": asset.ticker,
        "interval_minutes": resample or interval,
        "base_interval_minutes": interval,
        "resampled": resample is not None,
        "quote_currency": quote,
        "source": series.source if series else None,
        "calendar": calendar,
        "start": iso(p.start),
        "end": iso(p.end),
        "count": len(data),
        "next_cursor": next_cursor,
        "next": _next_url(request, "candles", next_cursor),
        "candles": data,
    }


@api.get("/gaps", url_name="gaps", summary="Gaps of one series, a page at a time")
def gaps(request: HttpRequest, p: Query[GapsQuery]):
    """Runs of missing candles between the first and last candle overlapping [start, end), real gaps and
    ranges a backfill confirmed had no trades, ordered by time and paginated like candles (the cursor is the
    start of the next gap). ``trailing`` is what is missing from the last candle up to now. Gaps follow the
    asset's ``calendar``: candles on a closed day are listed as ``off_calendar``, pre- and after-market ones
    counted as ``extended_hours``; neither is a gap."""
    _strict(request, GapsQuery, p)
    version = coverage.store_version()
    asset, quote, series = _series(p, version)
    found = summary.gaps_of(series, version=version) if series else []
    lower = max((t for t in (p.start, p.cursor) if t is not None), default=None)
    page = [g for g in found if (lower is None or g.end >= lower) and (p.end is None or g.start < p.end)
            and (p.cursor is None or g.start >= p.cursor)]
    next_cursor = iso(page[p.limit].start) if len(page) > p.limit else None
    page = page[:p.limit]
    calendar = calendar_of(asset)
    trailing = summary.trailing_gap(series, calendar=calendar) if series else None
    off = summary.off_hours(series, calendar, version=version) if series else summary.OffHours()
    return {
        "ticker": asset.ticker,
        "interval_minutes": int(p.interval),
        "quote_currency": quote,
        "source": series.source if series else (p.source or None),
        "start": iso(p.start),
        "end": iso(p.end),
        "gaps": [gap_dict(g) for g in page if not g.confirmed_empty],
        "confirmed_empty": [gap_dict(g) for g in page if g.confirmed_empty],
        "trailing": gap_dict(trailing) if trailing else None,
        "calendar": calendar,
        "off_calendar": [iso(t) for t in off.off_calendar],
        "extended_hours": off.extended_hours,
        "next_cursor": next_cursor,
        "next": _next_url(request, "gaps", next_cursor),
    }


def interval_label(minutes: int) -> str:
    delta = timedelta(minutes=minutes)
    if delta >= timedelta(days=1):
        return f"{minutes // 1440}d"
    if delta >= timedelta(hours=1):
        return f"{minutes // 60}h"
    return f"{minutes}m"
