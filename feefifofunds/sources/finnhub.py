"""Finnhub: stock, crypto and forex candles.

The key (``FINNHUB_API_KEY``) travels only as the ``X-Finnhub-Token`` header, never as ``token=`` in a URL,
and only to the configured host: a redirect to another host is refused (``http.ForeignHostError``).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from . import CandleRequest, Source, SourceError
from .http import ApiClient, NotEntitledError, RateLimiter, require_key, setting
from .normalize import candles_from_columns, finish

NAME = "finnhub"
PROVIDER = "Finnhub"
KEY_VARIABLE = "FINNHUB_API_KEY"
DEFAULT_API_URL = "https://finnhub.io/api/v1"
DEFAULT_REQUESTS_PER_MINUTE = 60  # free plan
RESOLUTION = {1: "1", 5: "5", 15: "15", 30: "30", 60: "60", 1440: "D"}
INTERVALS: tuple[int, ...] = tuple(RESOLUTION)
INTERVALS_HELP = "1, 5, 15, 30, 60 or 1440 minutes"

EXPLAIN = {
    401: f"the key in {KEY_VARIABLE} is missing or was rejected: check it",
    403: "your Finnhub plan does not include this data; stock candles are premium-only on Finnhub",
    429: "rate limit of your Finnhub plan; lower FINNHUB_REQUESTS_PER_MINUTE",
}

# Which crypto exchange and which stablecoin stand in for a fiat quote currency.
CRYPTO_EXCHANGE = "BINANCE"
CRYPTO_QUOTE = {"USD": "USDT"}
FOREX_BROKER = "OANDA"


def finnhub_symbol(ticker: str, category: str, quote_currency: str = "USD") -> tuple[str, str]:
    """The one place catalog tickers become Finnhub (endpoint, symbol) pairs.

    BTC (crypto) -> ("crypto", "BINANCE:BTCUSDT"); EUR (currency) -> ("forex", "OANDA:EUR_USD");
    AAPL -> ("stock", "AAPL").
    """
    ticker, quote = ticker.upper(), (quote_currency or "USD").upper()
    if category == "CRYPTO":
        return "crypto", f"{CRYPTO_EXCHANGE}:{ticker}{CRYPTO_QUOTE.get(quote, quote)}"
    if category == "CURRENCY":
        return "forex", f"{FOREX_BROKER}:{ticker}_{quote}"
    return "stock", ticker


class FinnhubSource(Source):
    name = NAME
    intervals = INTERVALS
    intervals_help = INTERVALS_HELP

    def __init__(self, api_key: str, *, base_url: str | None = None, limiter: RateLimiter | None = None,
                 **client_options):
        base_url = base_url or setting("FINNHUB_API_URL", DEFAULT_API_URL)
        per_minute = setting("FINNHUB_REQUESTS_PER_MINUTE", DEFAULT_REQUESTS_PER_MINUTE, float)
        super().__init__(ApiClient(PROVIDER, base_url, headers={"X-Finnhub-Token": api_key}, secrets=[api_key],
                                   limiter=limiter or RateLimiter(per_minute), explain=EXPLAIN, **client_options))

    @classmethod
    def from_settings(cls) -> FinnhubSource:
        return cls(require_key(KEY_VARIABLE, PROVIDER))

    def fetch(self, request: CandleRequest) -> pl.DataFrame:
        if request.interval_minutes not in RESOLUTION:
            raise SourceError(f"{PROVIDER} cannot give {request.interval_minutes}-minute candles "
                              f"(it gives {INTERVALS_HELP})")
        kind, symbol = finnhub_symbol(request.ticker, request.category, request.quote_currency)
        params = {
            "symbol": symbol,
            "resolution": RESOLUTION[request.interval_minutes],
            "from": int(request.start.timestamp()),
            "to": int(request.end.timestamp()) - 1,  # inclusive upstream
        }
        try:
            data: Any = self.client.get_json(f"/{kind}/candle", params, what=symbol)
        except NotEntitledError as exc:
            raise NotEntitledError(f"{exc} [{kind} candles for {symbol}]", exc.status) from None
        if not isinstance(data, dict):
            raise SourceError(f"{PROVIDER} sent an unexpected answer for {symbol}")
        status = data.get("s")
        if status == "no_data":
            return finish(candles_from_columns({}, time_unit="s", interval_minutes=request.interval_minutes),
                          request, provider=PROVIDER)
        if status != "ok":
            raise SourceError(f"{PROVIDER} answered {status!r} for {symbol}: {data.get('error') or 'no details'}")
        columns = {"time": data.get("t") or [], "open": data.get("o"), "high": data.get("h"),
                   "low": data.get("l"), "close": data.get("c"), "volume": data.get("v")}
        lengths = {len(v) for v in columns.values() if v is not None}
        if len(lengths) > 1:
            raise SourceError(f"{PROVIDER} sent candle arrays of different lengths for {symbol}")
        frame = candles_from_columns(columns, time_unit="s", interval_minutes=request.interval_minutes)
        return finish(frame, request, provider=PROVIDER)
