"""Massive.com (formerly Polygon.io): aggregates per ticker, and grouped daily bars for a whole market.

The key (``MASSIVE_API_KEY``) travels only as ``Authorization: Bearer``, and only to the configured host
(``MASSIVE_API_URL``): a ``next_url`` on another host is refused (``http.ForeignHostError``). Massive limits
requests per 60-second window (5 on the free plan): a 429 waits ``MASSIVE_RATE_WINDOW_SECONDS`` (60) before
the next attempt, so a retry lands in a fresh window.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from . import CANDLE_SCHEMA, CandleRequest, GroupedDailySource, SourceError
from .http import ApiClient, RateLimiter, require_key, setting
from .normalize import candles_from_columns, finish

NAME = "massive"
PROVIDER = "Massive"
KEY_VARIABLE = "MASSIVE_API_KEY"
DEFAULT_API_URL = "https://api.massive.com"
DEFAULT_REQUESTS_PER_MINUTE = 5  # free plan
RATE_WINDOW_SECONDS = 60.0  # the window the per-minute limit is counted in
# Minute, hour and day aggregates; any multiple works upstream, these are the ones that align to UTC.
INTERVALS: tuple[int, ...] = (1, 5, 15, 30, 60, 240, 1440)
INTERVALS_HELP = "1, 5, 15, 30, 60, 240 or 1440 minutes"

EXPLAIN = {
    401: f"the key in {KEY_VARIABLE} was rejected: check it",
    403: "your Massive plan does not include this data or this much history",
    429: "rate limit of your Massive plan; lower MASSIVE_REQUESTS_PER_MINUTE",
}

# Grouped daily: which market endpoint serves which catalog category.
MARKET_OF_CATEGORY = {"STOCK": "stocks", "COMMODITY": "stocks", "CRYPTO": "crypto", "CURRENCY": "fx"}
GROUPED_PATH = {
    "stocks": "/v2/aggs/grouped/locale/us/market/stocks/{day}",
    "crypto": "/v2/aggs/grouped/locale/global/market/crypto/{day}",
    "fx": "/v2/aggs/grouped/locale/global/market/fx/{day}",
}


def massive_ticker(ticker: str, category: str, quote_currency: str = "USD") -> str:
    """The one place catalog tickers become Massive tickers: BTC -> X:BTCUSD, EUR -> C:EURUSD, AAPL -> AAPL."""
    ticker, quote = ticker.upper(), (quote_currency or "USD").upper()
    if category == "CRYPTO":
        return f"X:{ticker}{quote}"
    if category == "CURRENCY":
        return f"C:{ticker}{quote}"
    return ticker


def timespan(interval_minutes: int) -> tuple[int, str]:
    if interval_minutes % 1440 == 0:
        return interval_minutes // 1440, "day"
    if interval_minutes % 60 == 0:
        return interval_minutes // 60, "hour"
    return interval_minutes, "minute"


def _columns(results: list[dict[str, Any]]) -> dict[str, list]:
    return {
        "time": [r.get("t") for r in results],
        "open": [r.get("o") for r in results],
        "high": [r.get("h") for r in results],
        "low": [r.get("l") for r in results],
        "close": [r.get("c") for r in results],
        "volume": [r.get("v") for r in results],
        "trade_count": [r.get("n") for r in results],
        "vwap": [r.get("vw") for r in results],
    }


def _check_status(data: Any, what: str) -> dict:
    if not isinstance(data, dict):
        raise SourceError(f"{PROVIDER} sent an unexpected answer for {what}")
    if data.get("status") not in (None, "OK", "DELAYED"):
        raise SourceError(f"{PROVIDER} answered {data.get('status')} for {what}: "
                          f"{data.get('error') or data.get('message') or 'no details'}")
    return data


class MassiveSource(GroupedDailySource):
    name = NAME
    intervals = INTERVALS
    intervals_help = INTERVALS_HELP
    max_pages = 1000

    def __init__(self, api_key: str, *, base_url: str | None = None, limiter: RateLimiter | None = None,
                 **client_options):
        base_url = base_url or setting("MASSIVE_API_URL", DEFAULT_API_URL)
        per_minute = setting("MASSIVE_REQUESTS_PER_MINUTE", DEFAULT_REQUESTS_PER_MINUTE, float)
        client_options.setdefault("rate_limit_wait",
                                  setting("MASSIVE_RATE_WINDOW_SECONDS", RATE_WINDOW_SECONDS, float))
        super().__init__(ApiClient(PROVIDER, base_url, headers={"Authorization": f"Bearer {api_key}"},
                                   secrets=[api_key], limiter=limiter or RateLimiter(per_minute),
                                   explain=EXPLAIN, **client_options))

    @classmethod
    def from_settings(cls) -> MassiveSource:
        return cls(require_key(KEY_VARIABLE, PROVIDER))

    def grouped_market(self, category: str) -> str | None:
        return MARKET_OF_CATEGORY.get(category)

    def grouped_symbol(self, ticker: str, category: str, quote_currency: str) -> str:
        return massive_ticker(ticker, category, quote_currency)

    def fetch(self, request: CandleRequest) -> pl.DataFrame:
        if request.interval_minutes not in self.intervals:
            raise SourceError(f"{PROVIDER} cannot give {request.interval_minutes}-minute candles "
                              f"(it gives {INTERVALS_HELP})")
        symbol = massive_ticker(request.ticker, request.category, request.quote_currency)
        multiplier, span = timespan(request.interval_minutes)
        start_ms = int(request.start.timestamp() * 1000)
        end_ms = int(request.end.timestamp() * 1000) - 1  # `to` is inclusive upstream
        url = f"/v2/aggs/ticker/{symbol}/range/{multiplier}/{span}/{start_ms}/{end_ms}"
        params: dict[str, Any] | None = {"adjusted": "true", "sort": "asc", "limit": 50000}
        results: list[dict[str, Any]] = []
        for _ in range(self.max_pages):
            data = _check_status(self.client.get_json(url, params, what=symbol), symbol)
            results.extend(data.get("results") or [])
            url, params = data.get("next_url"), None
            if not url:
                break
        else:
            raise SourceError(f"{PROVIDER} kept paginating for {symbol} after {self.max_pages} pages")
        frame = candles_from_columns(_columns(results), time_unit="ms", interval_minutes=request.interval_minutes)
        return finish(frame, request, provider=PROVIDER)

    def grouped_daily(self, day: date, market: str) -> pl.DataFrame:
        """Every ticker's daily bar of one market on ``day``: CANDLE_SCHEMA plus ``ticker`` (Massive's ``T``).

        One API call; weekends and holidays give an empty frame for stocks.
        """
        if market not in GROUPED_PATH:
            raise SourceError(f"unknown Massive market {market!r} (known: {', '.join(GROUPED_PATH)})")
        path = GROUPED_PATH[market].format(day=day.isoformat())
        what = f"grouped {market} {day.isoformat()}"
        data = _check_status(self.client.get_json(path, {"adjusted": "true"}, what=what), what)
        results = [r for r in data.get("results") or [] if r.get("T") and r.get("t") is not None]
        if not results:
            return grouped_empty()
        return candles_from_columns(_columns(results), time_unit="ms", interval_minutes=1440,
                                    ticker=[r["T"] for r in results])


def grouped_empty() -> pl.DataFrame:
    return pl.DataFrame(schema={**CANDLE_SCHEMA, "ticker": pl.String})
