"""Read-only JSON API: assets with coverage, candles (optionally resampled in QuestDB), gaps.

Every parameter is validated here before any query; a bad one is a 400 (or 404 for an unknown ticker)
with a JSON body ``{"error": {"status", "code", "message", "parameter"}}``, never a 500.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from pathlib import Path

import psycopg
from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from feefifofunds.models import Asset
from feefifofunds.store.client import QuestDBError

from . import coverage

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2200, 1, 1, tzinfo=UTC)

_TICKER_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,19}$")
_QUOTE_RE = re.compile(r"^[A-Z0-9]{1,10}$")
_SOURCE_RE = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.parameter = status, code, message, parameter

    def response(self) -> JsonResponse:
        body = {"status": self.status, "code": self.code, "message": self.message}
        if self.parameter:
            body["parameter"] = self.parameter
        return JsonResponse({"error": body}, status=self.status)


def bad(parameter: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, parameter)


# ---------------------------------------------------------------- parameter parsing (shared with views)


def known(params, allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise bad(unknown[0], f"unknown parameter {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def single(params, name: str) -> str | None:
    values = params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise bad(name, f"{name} given more than once")
    if _CONTROL_RE.search(values[0]):
        raise bad(name, f"{name} contains control characters")
    return values[0].strip()


def parse_ticker(value: str | None, name: str = "ticker") -> Asset:
    if not value:
        raise bad(name, f"{name} is required")
    ticker = value.upper()
    if not _TICKER_RE.match(ticker):
        raise bad(name, f"{name} must be 1-20 characters: letters, digits, '.' and '-'")
    try:
        return Asset.objects.get(ticker=ticker)
    except Asset.DoesNotExist:
        raise ApiError(404, "unknown_ticker", f"no asset with ticker {ticker!r}", name) from None


def parse_int_choice(value: str | None, name: str, choices: tuple[int, ...], default: int | None) -> int | None:
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) not in choices:
        raise bad(name, f"{name} must be one of {', '.join(map(str, choices))} (minutes)")
    return int(value)


def parse_quote(value: str | None, default: str | None, name: str = "quote") -> str | None:
    if value is None or value == "":
        return default
    quote = value.upper()
    if not _QUOTE_RE.match(quote):
        raise bad(name, f"{name} must be 1-10 letters or digits")
    return quote


def parse_source(value: str | None, name: str = "source") -> str | None:
    if value is None or value == "":
        return None
    if not _SOURCE_RE.match(value):
        raise bad(name, f"{name} must be 1-20 lower-case letters, digits or '_'")
    return value


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date or date-time; naive values are UTC."""
    if value is None or value == "":
        return None
    if len(value) > 40 or not _DATE_RE.match(value):
        raise bad(name, f"{name} must be an ISO 8601 date or date-time, e.g. 2024-01-31 or 2024-01-31T12:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise bad(name, f"{name} is not a valid date: {value!r}") from None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if not MIN_TIME <= parsed < MAX_TIME:
        raise bad(name, f"{name} must be between 1970 and 2200")
    return parsed


def parse_range(params) -> tuple[datetime | None, datetime | None]:
    start = parse_time(single(params, "start"), "start")
    end = parse_time(single(params, "end"), "end")
    if start is not None and end is not None and end <= start:
        raise bad("end", "end must be after start")
    return start, end


def parse_limit(value: str | None, name: str = "limit") -> int:
    if value is None or value == "":
        return DEFAULT_PAGE_SIZE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise bad(name, f"{name} must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(value)


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- plumbing


def api_view(view):
    """GET only; ApiError and QuestDB trouble become JSON errors instead of HTML pages or 500s."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            response = ApiError(405, "method_not_allowed", "this API is read-only: use GET").response()
            response["Allow"] = "GET, HEAD"
            return response
        try:
            return view(request, *args, **kwargs)
        except ApiError as exc:
            return exc.response()
        except coverage.CoverageError as exc:
            return ApiError(400, "invalid_request", str(exc)).response()
        except (QuestDBError, psycopg.OperationalError):
            return ApiError(503, "store_unavailable", "the price store (QuestDB) cannot be reached").response()

    return wrapper


def _asset_dict(asset: Asset) -> dict:
    return {
        "ticker": asset.ticker,
        "name": asset.name,
        "category": asset.category,
        "tier": asset.tier,
        "quote_currency": asset.quote_currency,
        "active": asset.active,
    }


def coverage_dicts(asset_id: int, series: list[coverage.SeriesCoverage], gap_counts: dict | None) -> list[dict]:
    out = []
    for c in series:
        if c.asset_id != asset_id:
            continue
        key = (c.asset_id, c.interval_minutes, c.quote_currency, c.source)
        out.append({
            "interval_minutes": c.interval_minutes,
            "quote_currency": c.quote_currency,
            "source": c.source,
            "first": iso(c.first),
            "last": iso(c.last),
            "candles": c.candles,
            "open_gaps": None if gap_counts is None else gap_counts.get(key, 0),
        })
    return out


def filter_assets(params):
    """The catalog filtered by ``q`` (ticker or name), ``tier`` and ``category``; shared with the dashboard."""
    qs = Asset.objects.all().order_by("ticker")
    q = single(params, "q")
    if q:
        if len(q) > 100:
            raise bad("q", "q must be at most 100 characters")
        from django.db.models import Q

        qs = qs.filter(Q(ticker__icontains=q) | Q(name__icontains=q))
    tier = single(params, "tier")
    if tier:
        if tier.upper() not in Asset.Tier.values:
            raise bad("tier", f"tier must be one of {', '.join(Asset.Tier.values)}")
        qs = qs.filter(tier=tier.upper())
    category = single(params, "category")
    if category:
        if category.upper() not in Asset.Category.values:
            raise bad("category", f"category must be one of {', '.join(Asset.Category.values)}")
        qs = qs.filter(category=category.upper())
    return qs


# ---------------------------------------------------------------- endpoints


@api_view
def assets(request: HttpRequest) -> JsonResponse:
    known(request.GET, {"q", "tier", "category", "gaps"})
    gaps_flag = single(request.GET, "gaps") or "1"
    if gaps_flag not in ("0", "1"):
        raise bad("gaps", "gaps must be 0 or 1")
    qs = list(filter_assets(request.GET))
    series = coverage.series_coverage()
    gap_counts = coverage.open_gap_counts() if gaps_flag == "1" else None
    return JsonResponse({
        "count": len(qs),
        "gap_detection": True,
        "assets": [{**_asset_dict(a), "coverage": coverage_dicts(a.pk, series, gap_counts)} for a in qs],
    })


@api_view
def asset_detail(request: HttpRequest, ticker: str) -> JsonResponse:
    known(request.GET, set())
    asset = parse_ticker(ticker)
    series = coverage.series_coverage(asset_id=asset.pk)
    gap_counts = coverage.open_gap_counts()
    return JsonResponse({**_asset_dict(asset), "gap_detection": True,
                         "coverage": coverage_dicts(asset.pk, series, gap_counts)})


def _series_params(request: HttpRequest) -> dict:
    params = request.GET
    asset = parse_ticker(single(params, "ticker"))
    interval = parse_int_choice(single(params, "interval"), "interval", coverage.INTERVALS, None)
    if interval is None:
        raise bad("interval", "interval is required (minutes: " + ", ".join(map(str, coverage.INTERVALS)) + ")")
    quote = parse_quote(single(params, "quote"), asset.quote_currency)
    source = parse_source(single(params, "source"))
    start, end = parse_range(params)
    return {"asset": asset, "interval": interval, "quote": quote, "source": source, "start": start, "end": end}


@api_view
def candles(request: HttpRequest) -> JsonResponse:
    known(request.GET, {"ticker", "interval", "quote", "source", "start", "end", "resample", "limit", "cursor"})
    p = _series_params(request)
    resample = parse_int_choice(single(request.GET, "resample"), "resample", coverage.RESAMPLE_TARGETS, None)
    if resample is not None and not coverage.can_resample(p["interval"], resample):
        raise bad("resample", f"resample must be a multiple of interval ({p['interval']}) and coarser than it")
    limit = parse_limit(single(request.GET, "limit"))
    cursor = parse_time(single(request.GET, "cursor"), "cursor")
    if cursor is not None and resample is not None and int(cursor.timestamp()) % (resample * 60):
        raise bad("cursor", "cursor must be a value returned as next_cursor")
    asset = p["asset"]
    source = coverage.resolve_source(asset.pk, p["interval"], p["quote"], p["source"])
    rows = []
    if source is not None:
        rows = coverage.candles(asset.pk, p["interval"], p["quote"], source=source, start=p["start"], end=p["end"],
                                resample=resample, after=cursor, limit=limit + 1)
    next_cursor = None
    if len(rows) > limit:
        next_cursor = iso(rows[limit][0])
        rows = rows[:limit]
    columns = coverage.RESAMPLED_COLUMNS if resample else coverage.CANDLE_COLUMNS
    data = [{col: (iso(v) if col == "time" else v) for col, v in zip(columns, r, strict=True)} for r in rows]
    next_url = None
    if next_cursor:
        query = request.GET.copy()
        query["cursor"] = next_cursor
        next_url = f"{reverse('feefifofunds-api:candles')}?{query.urlencode()}"
    return JsonResponse({
        "ticker": asset.ticker,
        "interval_minutes": resample or p["interval"],
        "base_interval_minutes": p["interval"],
        "resampled": resample is not None,
        "quote_currency": p["quote"],
        "source": source,
        "start": iso(p["start"]),
        "end": iso(p["end"]),
        "count": len(data),
        "next_cursor": next_cursor,
        "next": next_url,
        "candles": data,
    })


@api_view
def gaps(request: HttpRequest) -> JsonResponse:
    known(request.GET, {"ticker", "interval", "quote", "source", "start", "end"})
    p = _series_params(request)
    asset = p["asset"]
    source = coverage.resolve_source(asset.pk, p["interval"], p["quote"], p["source"]) or p["source"] or "kraken"
    real, confirmed = coverage.series_gaps(asset.pk, p["interval"], p["quote"], source=source, start=p["start"],
                                           end=p["end"])
    return JsonResponse({
        "ticker": asset.ticker,
        "interval_minutes": p["interval"],
        "quote_currency": p["quote"],
        "source": source,
        "start": iso(p["start"]),
        "end": iso(p["end"]),
        "gaps": [coverage.gap_dict(g) for g in real],
        "confirmed_empty": [coverage.gap_dict(g) for g in confirmed],
    })


@api_view
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(json.loads(OPENAPI_PATH.read_text()))


def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    return ApiError(404, "not_found", "no such API endpoint; see /api/openapi.json").response()


def interval_label(minutes: int) -> str:
    delta = timedelta(minutes=minutes)
    if delta >= timedelta(days=1):
        return f"{minutes // 1440}d"
    if delta >= timedelta(hours=1):
        return f"{minutes // 60}h"
    return f"{minutes}m"
