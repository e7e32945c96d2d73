"""Kraken's public REST API (OHLC and AssetPairs) as a ``PagedSource``: recent candles to fill gaps.

Facts this relies on (see the Kraken reference): HTTP 200 even on errors, which come in the ``error`` array;
numbers as strings; the OHLC result keyed by Kraken's internal pair name plus ``last``; at most the 720 most
recent candles whatever ``since`` says; the last row is the current, unfinished candle (never returned here).
720-minute candles exist in the archive but not in this API.

Requests go through ``http.ApiClient`` (retries, backoff, rate limit); ``check_kraken_body`` turns the
``error`` array into retryable or final errors. Settings (all optional, read with ``http.setting``):
``KRAKEN_API_URL`` (default https://api.kraken.com), ``KRAKEN_API_RATE_PER_SECOND``
(1.0), ``KRAKEN_API_TIMEOUT_SECONDS`` (30), ``KRAKEN_API_MAX_ATTEMPTS`` (5), ``KRAKEN_API_BACKOFF_SECONDS``
(base of the exponential backoff, 1.0) and ``KRAKEN_API_BACKOFF_MAX_SECONDS`` (60).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import polars as pl

from . import CANDLE_SCHEMA, CandlePage, CandleRequest, PagedSource, empty_candles
from .http import ApiClient, ApiError, RateLimiter, RetryableError, setting
from .kraken_archive import KRAKEN_ALIASES
from .validation import validate_candles

API_INTERVALS: tuple[int, ...] = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
MAX_CANDLES = 720  # the API returns at most this many of the most recent candles
# Our tickers to Kraken's codes, on either side of a pair (the archive's aliases, reversed).
KRAKEN_CODES = {ours: kraken for kraken, ours in KRAKEN_ALIASES.items()}

_RETRYABLE_PREFIXES = ("EAPI:Rate limit exceeded", "EGeneral:Too many requests", "EService:")


class KrakenAPIError(ApiError):
    """Kraken answered with an error that retrying will not fix (unknown pair, invalid arguments...)."""


class KrakenRetryableError(RetryableError):
    """Rate limit, service unavailable, HTTP 5xx or a timeout: worth another try after a pause."""


def check_kraken_body(body: Any) -> None:
    """``ApiClient.check_body`` for Kraken: errors come with HTTP 200, in the ``error`` array."""
    errors = [str(e) for e in (body.get("error") if isinstance(body, dict) else None) or [] if str(e).startswith("E")]
    if errors:
        message = "; ".join(errors)
        if any(e.startswith(_RETRYABLE_PREFIXES) for e in errors):
            raise KrakenRetryableError(message)
        raise KrakenAPIError(message)


def kraken_code(ticker: str) -> str:
    ticker = ticker.upper()
    return KRAKEN_CODES.get(ticker, ticker)


@dataclass(frozen=True)
class KrakenPair:
    key: str  # internal name, the OHLC result key (XXBTZUSD)
    altname: str  # the archive's file stem (XBTUSD)
    status: str


@dataclass(frozen=True)
class OHLCPage:
    """One raw OHLC answer: the finished candles (CANDLE_SCHEMA, sorted), the unfinished current candle's time
    and Kraken's ``last`` cursor. ``fetch_page`` turns it into the interface's ``CandlePage``."""

    candles: pl.DataFrame
    current: datetime | None
    last: int | None


class KrakenRestSource(PagedSource):
    """Kraken's REST OHLC endpoint. Pairs are resolved through AssetPairs, cached per instance. No key."""

    name = "kraken"
    intervals: tuple[int, ...] = API_INTERVALS
    intervals_help = ", ".join(map(str, API_INTERVALS)) + " minutes (the most recent 720 candles only)"

    def __init__(self, base_url: str | None = None, *, rate_per_second: float | None = None,
                 timeout: float | None = None, max_attempts: int | None = None,
                 backoff_seconds: float | None = None, backoff_max_seconds: float | None = None,
                 transport: httpx.BaseTransport | None = None):
        def option(value, name: str, default, cast):
            return value if value is not None else setting(name, default, cast)

        self.base_url = (base_url or setting("KRAKEN_API_URL", "https://api.kraken.com")).rstrip("/")
        # Requests per second (0: no limit); the gap plan reckons its time with the same figure.
        self.rate_per_second: float = option(rate_per_second, "KRAKEN_API_RATE_PER_SECOND", 1.0, float)
        self.limiter = RateLimiter.per_second(self.rate_per_second) if self.rate_per_second > 0 else None
        self.max_attempts = max_attempts or setting("KRAKEN_API_MAX_ATTEMPTS", 5, int)
        super().__init__(ApiClient(
            "Kraken", self.base_url, headers={"User-Agent": "feefifofunds-gap-backfill"}, limiter=self.limiter,
            attempts=self.max_attempts, timeout=option(timeout, "KRAKEN_API_TIMEOUT_SECONDS", 30.0, float),
            backoff=option(backoff_seconds, "KRAKEN_API_BACKOFF_SECONDS", 1.0, float),
            backoff_max=option(backoff_max_seconds, "KRAKEN_API_BACKOFF_MAX_SECONDS", 60.0, float),
            check_body=check_kraken_body, transport=transport,
        ))
        self._pairs: dict[str, KrakenPair] | None = None

    @classmethod
    def from_settings(cls) -> KrakenRestSource:
        return cls()

    def _get(self, path: str, params: dict) -> dict:
        """The ``result`` of a public endpoint; every failure as ``KrakenAPIError`` or ``KrakenRetryableError``."""
        try:
            body = self.client.get_json(path, params, what=path)
        except KrakenAPIError:
            raise
        except RetryableError as exc:
            raise KrakenRetryableError(f"{exc} (gave up after {self.max_attempts} attempts)", exc.status) from None
        except ApiError as exc:
            raise KrakenAPIError(str(exc), exc.status) from None
        if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
            raise KrakenAPIError(f"Kraken {path} answered without a result")
        return body["result"]

    # --- pairs -----------------------------------------------------------------------------------------

    def pairs(self) -> dict[str, KrakenPair]:
        """Every Kraken pair by altname (one request per instance)."""
        if self._pairs is None:
            result = self._get("/0/public/AssetPairs", {})
            self._pairs = {}
            for key, info in result.items():
                pair = KrakenPair(key=key, altname=str(info.get("altname", key)), status=str(info.get("status", "")))
                self._pairs[pair.altname.upper()] = pair
                wsname = str(info.get("wsname") or "").replace("/", "").upper()
                if wsname:
                    self._pairs.setdefault(wsname, pair)
        return self._pairs

    def pair_for(self, ticker: str, quote_currency: str) -> KrakenPair:
        wanted = [kraken_code(ticker) + kraken_code(quote_currency), ticker.upper() + quote_currency.upper()]
        pairs = self.pairs()
        for name in wanted:
            if name in pairs:
                return pairs[name]
        raise KrakenAPIError(f"EQuery:Unknown asset pair ({ticker.upper()}/{quote_currency.upper()}, "
                             f"looked for {wanted[0]} in AssetPairs)")

    # --- OHLC ------------------------------------------------------------------------------------------

    def ohlc(self, pair: KrakenPair, interval_minutes: int, since: int | None = None) -> OHLCPage:
        if interval_minutes not in API_INTERVALS:
            raise KrakenAPIError(f"Kraken's REST API has no {interval_minutes}-minute candles "
                                 f"(offered: {', '.join(map(str, API_INTERVALS))})")
        params: dict = {"pair": pair.altname, "interval": interval_minutes}
        if since is not None:
            params["since"] = int(since)
        result = self._get("/0/public/OHLC", params)
        keys = [k for k in result if k != "last"]
        rows = result.get(pair.key) if pair.key in result else (result[keys[0]] if len(keys) == 1 else None)
        if rows is None:
            raise KrakenAPIError(f"Kraken OHLC answer has no data for {pair.altname} (keys: {', '.join(keys)})")
        last = result.get("last")
        return parse_ohlc_rows(rows, interval_minutes, last=int(last) if last is not None else None)

    def fetch(self, request: CandleRequest) -> pl.DataFrame:
        """Finished candles in [start, end): only the most recent 720 candles are available from Kraken."""
        return self.fetch_page(request).candles

    def fetch_page(self, request: CandleRequest) -> CandlePage:
        """Like ``fetch``, plus what the answer covered: the 719 finished candles before the current one."""
        pair = self.pair_for(request.ticker, request.quote_currency)
        # `since` one second before the start: the start candle is included whether Kraken treats `since` as
        # inclusive or exclusive. A cursor (Kraken's `last`) resumes where an earlier answer ended.
        since = int(request.cursor) if request.cursor else int(request.start.timestamp()) - 1
        page = self.ohlc(pair, request.interval_minutes, since)
        ts = pl.col("time")
        candles = page.candles.filter((ts >= request.start) & (ts < request.end))
        if page.current is None:
            return CandlePage(candles, cursor=None if page.last is None else str(page.last))
        return CandlePage(candles, covered_from=oldest_available(page.current, request.interval_minutes),
                          covered_until=page.current, cursor=None if page.last is None else str(page.last))


def parse_ohlc_rows(rows: list, interval_minutes: int, *, last: int | None = None) -> OHLCPage:
    """Kraken OHLC rows ``[time, open, high, low, close, vwap, volume, count]`` (numbers as strings) to candles.

    The last row is the unfinished current candle: dropped, its time kept in ``current``.
    """
    if not rows:
        return OHLCPage(empty_candles(), None, last)
    try:
        current = datetime.fromtimestamp(int(rows[-1][0]), UTC)
        finished = rows[:-1]
        frame = pl.DataFrame(
            {
                "time": [int(r[0]) for r in finished],
                "open": [float(r[1]) for r in finished],
                "high": [float(r[2]) for r in finished],
                "low": [float(r[3]) for r in finished],
                "close": [float(r[4]) for r in finished],
                "vwap": [float(r[5]) for r in finished],
                "volume": [float(r[6]) for r in finished],
                "trade_count": [int(r[7]) for r in finished],
            },
            schema={"time": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
                    "close": pl.Float64, "vwap": pl.Float64, "volume": pl.Float64, "trade_count": pl.Int64},
        )
    except (TypeError, ValueError, IndexError) as exc:
        raise KrakenAPIError(f"malformed OHLC row from Kraken: {exc}") from None
    problem = validate_candles(frame, interval_minutes)
    if problem is not None:
        bad = finished[problem.row]
        raise KrakenAPIError(f"invalid candle from Kraken at {bad[0]}: {problem.reason}")
    candles = (
        frame.with_columns(pl.from_epoch("time", time_unit="s").dt.replace_time_zone("UTC").cast(CANDLE_SCHEMA["time"]))
        .select(list(CANDLE_SCHEMA))
        .unique("time", keep="last")
        .sort("time")
    )
    return OHLCPage(candles, current, last)


def oldest_available(current: datetime, interval_minutes: int) -> datetime:
    """The oldest candle an OHLC answer can hold when ``current`` is the unfinished candle."""
    return current - (MAX_CANDLES - 1) * timedelta(minutes=interval_minutes)
