"""Kraken's public REST API (OHLC and AssetPairs) as a ``Source``: recent candles to fill gaps.

Facts this relies on (see the Kraken reference): HTTP 200 even on errors, which come in the ``error`` array;
numbers as strings; the OHLC result keyed by Kraken's internal pair name plus ``last``; at most the 720 most
recent candles whatever ``since`` says; the last row is the current, unfinished candle (never returned here).
720-minute candles exist in the archive but not in this API.

Settings (all optional): ``KRAKEN_API_URL`` (default https://api.kraken.com), ``KRAKEN_API_RATE_PER_SECOND``
(1.0), ``KRAKEN_API_TIMEOUT_SECONDS`` (30), ``KRAKEN_API_MAX_ATTEMPTS`` (5), ``KRAKEN_API_BACKOFF_SECONDS``
(base of the exponential backoff, 1.0) and ``KRAKEN_API_BACKOFF_MAX_SECONDS`` (60).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import polars as pl
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from feefifofunds.ingestion.candles import validate_candles

from . import CANDLE_SCHEMA, CandleRequest, SourceError, empty_candles

API_INTERVALS: tuple[int, ...] = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
ARCHIVE_ONLY_INTERVALS: tuple[int, ...] = (720,)
MAX_CANDLES = 720  # the API returns at most this many of the most recent candles
# Our tickers to Kraken's codes, on either side of a pair.
KRAKEN_CODES = {"BTC": "XBT", "DOGE": "XDG"}

_RETRYABLE_PREFIXES = ("EAPI:Rate limit exceeded", "EGeneral:Too many requests", "EService:")


class KrakenAPIError(SourceError):
    """Kraken answered with an error that retrying will not fix (unknown pair, invalid arguments...)."""


class KrakenRetryableError(SourceError):
    """Rate limit, service unavailable, HTTP 5xx or a timeout: worth another try after a pause."""


def _setting(name: str, default):
    from django.conf import settings

    return getattr(settings, name, default)


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
    """One OHLC answer: the finished candles (CANDLE_SCHEMA, sorted) and the unfinished current candle's time."""

    candles: pl.DataFrame
    current: datetime | None
    last: int | None


class RateLimiter:
    """At most ``rate`` calls per second, spaced evenly (thread-safe)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                time.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


class KrakenRestSource:
    """``Source`` for Kraken's REST OHLC endpoint. Pairs are resolved through AssetPairs, cached per instance."""

    name = "kraken"
    intervals: tuple[int, ...] = API_INTERVALS

    def __init__(self, base_url: str | None = None, *, rate_per_second: float | None = None,
                 timeout: float | None = None, max_attempts: int | None = None,
                 backoff_seconds: float | None = None, backoff_max_seconds: float | None = None,
                 client: httpx.Client | None = None):
        self.base_url = (base_url or _setting("KRAKEN_API_URL", "https://api.kraken.com")).rstrip("/")
        self.limiter = RateLimiter(rate_per_second if rate_per_second is not None
                                   else float(_setting("KRAKEN_API_RATE_PER_SECOND", 1.0)))
        self.timeout = timeout if timeout is not None else float(_setting("KRAKEN_API_TIMEOUT_SECONDS", 30.0))
        self.max_attempts = max_attempts or int(_setting("KRAKEN_API_MAX_ATTEMPTS", 5))
        self.backoff = backoff_seconds if backoff_seconds is not None else float(
            _setting("KRAKEN_API_BACKOFF_SECONDS", 1.0))
        self.backoff_max = backoff_max_seconds if backoff_max_seconds is not None else float(
            _setting("KRAKEN_API_BACKOFF_MAX_SECONDS", 60.0))
        self._client = client or httpx.Client(timeout=self.timeout,
                                              headers={"User-Agent": "feefifofunds-gap-backfill"})
        self._pairs: dict[str, KrakenPair] | None = None
        self.requests_made = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> KrakenRestSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- HTTP ------------------------------------------------------------------------------------------

    def _get_once(self, path: str, params: dict) -> dict:
        self.limiter.wait()
        self.requests_made += 1
        try:
            response = self._client.get(f"{self.base_url}{path}", params=params)
        except httpx.TimeoutException as exc:
            raise KrakenRetryableError(f"timeout calling Kraken {path}: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise KrakenRetryableError(f"cannot reach Kraken {path}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise KrakenRetryableError(f"Kraken {path} answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise KrakenAPIError(f"Kraken {path} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise KrakenRetryableError(f"Kraken {path} answered something that is not JSON") from None
        errors = [e for e in body.get("error") or [] if str(e).startswith("E")]
        if errors:
            message = "; ".join(str(e) for e in errors)
            if any(str(e).startswith(_RETRYABLE_PREFIXES) for e in errors):
                raise KrakenRetryableError(message)
            raise KrakenAPIError(message)
        if not isinstance(body.get("result"), dict):
            raise KrakenAPIError(f"Kraken {path} answered without a result")
        return body["result"]

    def _get(self, path: str, params: dict) -> dict:
        retrying = Retrying(
            retry=retry_if_exception_type(KrakenRetryableError),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff, min=0, max=self.backoff_max),
            reraise=False,
        )
        try:
            return retrying(self._get_once, path, params)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise KrakenRetryableError(f"{last} (gave up after {self.max_attempts} attempts)") from None

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

    def fetch_page(self, request: CandleRequest) -> OHLCPage:
        """Like ``fetch`` but keeps the current candle's time, which tells what the answer covered."""
        pair = self.pair_for(request.ticker, request.quote_currency)
        # `since` one second before the start: the start candle is included whether Kraken treats `since` as
        # inclusive or exclusive.
        since = int(request.start.timestamp()) - 1
        page = self.ohlc(pair, request.interval_minutes, since)
        ts = pl.col("time")
        candles = page.candles.filter((ts >= request.start) & (ts < request.end))
        return OHLCPage(candles, page.current, page.last)


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


def floor_time(dt: datetime, interval_minutes: int) -> datetime:
    """The start of the candle that contains ``dt`` (Kraken aligns candles on the Unix epoch)."""
    step = interval_minutes * 60
    seconds = int(dt.timestamp())
    return datetime.fromtimestamp(seconds - seconds % step, UTC)


def oldest_available(current: datetime, interval_minutes: int) -> datetime:
    """The oldest candle an OHLC answer can hold when ``current`` is the unfinished candle."""
    return current - (MAX_CANDLES - 1) * timedelta(minutes=interval_minutes)
