"""Typed request parameters shared by the JSON API (django-ninja) and the dashboard pages.

Each query is a pydantic model: the API declares it as its parameters (so the OpenAPI description is
generated from it) and the dashboard validates ``request.GET`` with the same model. Any error becomes an
``ApiError`` naming the parameter, answered as a JSON 400 (API) or an error page (dashboard).
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from django.http import QueryDict
from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from feefifofunds.models import Asset
from feefifofunds.store import coverage
from feefifofunds.timeframes import INTERVALS

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2200, 1, 1, tzinfo=UTC)

TICKER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,19}$"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class ApiError(Exception):
    """A request refused with a status, a machine code, a message for the user and the parameter at fault."""

    def __init__(self, status: int, code: str, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.parameter = status, code, message, parameter


def bad(parameter: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, parameter)


Interval = enum.IntEnum("Interval", {f"m{i}": i for i in INTERVALS})
Resample = enum.IntEnum("Resample", {f"m{i}": i for i in coverage.RESAMPLE_TARGETS})


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


def _time(value: Any, info: pydantic.ValidationInfo) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return parse_time(str(value).strip(), info.field_name)
    except ApiError as exc:
        raise PydanticCustomError("iso_time", exc.message) from None


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _choice(values: list[str], name: str):
    def check(value: Any) -> Any:
        value = _upper(value)
        if value not in values:
            raise PydanticCustomError("choice", f"{name} must be one of {', '.join(values)}")
        return value
    return check


IsoTime = Annotated[datetime | None, BeforeValidator(_time),
                    Field(None, description="ISO 8601 date or date-time (UTC when no offset), e.g. 2024-01-31")]
Ticker = Annotated[str, BeforeValidator(_upper), Field(pattern=TICKER_PATTERN, description="Asset ticker, e.g. BTC")]
Quote = Annotated[str | None, BeforeValidator(_upper),
                  Field(None, pattern=r"^[A-Z0-9]{1,10}$",
                        description="Quote currency; default: the one that exists (the asset's own, then USD)")]
Source = Annotated[str | None, Field(None, pattern=r"^[a-z][a-z0-9_]{0,19}$",
                                     description="Data source, e.g. kraken; default: the only one present")]
Limit = Annotated[int, Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Page size")]
Cursor = Annotated[datetime | None, BeforeValidator(_time),
                   Field(None, description="The next_cursor of the previous page")]


class Params(pydantic.BaseModel):
    """Empty values mean "not given" (HTML forms send them)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v not in ("", None)}
        return data

    def check_range(self) -> None:
        start, end = getattr(self, "start", None), getattr(self, "end", None)
        if start is not None and end is not None and end <= start:
            raise bad("end", "end must be after start")


class AssetFilter(Params):
    q: Annotated[str | None, Field(None, max_length=100, description="Part of the ticker or name")]
    tier: Annotated[str | None, BeforeValidator(_choice(list(Asset.Tier.values), "tier")),
                    Field(None, description="Asset tier: " + ", ".join(Asset.Tier.values))]
    category: Annotated[str | None, BeforeValidator(_choice(list(Asset.Category.values), "category")),
                        Field(None, description="Asset category: " + ", ".join(Asset.Category.values))]


class AssetListQuery(AssetFilter):
    """The dashboard's asset list: the filters and a page number."""

    page: Annotated[int, Field(1, ge=1, le=1_000_000, description="Page of the asset list")]


class AssetsQuery(AssetFilter):
    gaps: Annotated[Literal["0", "1"], Field("1", description="1: count open gaps per series; 0: skip")]


class ChartQuery(Params):
    """The dashboard's asset page: every choice optional (defaults from what is stored)."""

    interval: Annotated[Interval | None, Field(None, description="Candle interval in minutes")]
    quote: Quote
    source: Source
    resample: Annotated[Resample | None, Field(None, description="Aggregate into buckets of these many minutes")]
    start: IsoTime
    end: IsoTime


class SeriesQuery(Params):
    ticker: Ticker
    interval: Annotated[Interval, Field(description="Candle interval in minutes")]
    quote: Quote
    source: Source
    start: IsoTime
    end: IsoTime
    limit: Limit
    cursor: Cursor


class CandlesQuery(SeriesQuery):
    resample: Annotated[Resample | None, Field(None, description="Aggregate into calendar-aligned buckets of "
                                                                 "these many minutes (a coarser multiple)")]


class GapsQuery(SeriesQuery):
    pass


M = TypeVar("M", bound=Params)


def error_from_pydantic(errors: list[dict]) -> ApiError:
    """The first validation error, as an ApiError naming its parameter."""
    err = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    names = [part for part in err.get("loc", ()) if isinstance(part, str) and part not in ("query", "path")]
    name = names[-1] if names else "request"
    message = str(err.get("msg", "invalid value"))
    if err.get("type") == "extra_forbidden":
        message = f"unknown parameter {name!r}"
    elif not message.startswith(name):
        message = f"{name}: {message}"
    return bad(name, message)


def check_query(params: QueryDict, model: type[Params]) -> None:
    """What typed parameters do not catch: unknown names, repeated names, control characters."""
    allowed = set(model.model_fields)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise bad(unknown[0], f"unknown parameter {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    for name in params:
        values = params.getlist(name)
        if len(values) > 1:
            raise bad(name, f"{name} given more than once")
        if _CONTROL_RE.search(values[0]):
            raise bad(name, f"{name} contains control characters")


def parse_query(params: QueryDict, model: type[M]) -> M:
    """Validate a whole query string (the dashboard's path; the API gets the same from django-ninja)."""
    check_query(params, model)
    try:
        parsed = model.model_validate({k: params.get(k) for k in params})
    except pydantic.ValidationError as exc:
        raise error_from_pydantic(exc.errors()) from None
    parsed.check_range()
    return parsed


def get_asset(ticker: str, name: str = "ticker") -> Asset:
    value = (ticker or "").strip().upper()
    if not value:
        raise bad(name, f"{name} is required")
    if _CONTROL_RE.search(value) or not re.match(TICKER_PATTERN, value):
        raise bad(name, f"{name} must be 1-20 characters: letters, digits, '.' and '-'")
    try:
        return Asset.objects.get(ticker=value)
    except Asset.DoesNotExist:
        raise ApiError(404, "unknown_ticker", f"no asset with ticker {value!r}", name) from None
