"""Where candles come from over HTTP: every API source gives normalized candles behind one small interface.

A *source* turns "this asset, quote currency, interval and time range" (``CandleRequest``) into a polars
DataFrame with ``CANDLE_SCHEMA``: one row per finished candle, sorted by time, validated. What happens next
(asset ids, the ``source`` symbol, sending to QuestDB) is the writer's job (``feefifofunds.ingestion.writer``),
the same for every source.

The interface says what the API sources really offer; callers use these verbs and nothing else:

- ``Source`` (every source): ``fetch(request)`` for a time range, ``requests`` (how many HTTP requests were
  made), and a context manager that closes the HTTP session. ``from_settings()`` builds one from settings and
  fails first thing when a key is missing.
- ``PagedSource`` (capability, Kraken REST): ``fetch_page(request)`` returns a ``CandlePage``: the candles,
  the span the answer *covered* (a candle time in it without a candle is proven empty: nobody traded) and a
  ``cursor`` to resume from. The OHLC gap backfill needs this.
- ``MultiIntervalSource`` (capability, Kraken Trades): ``fetch_pages(request, intervals)`` reads a bounded
  number of pages of one walk over the raw trades, from ``CandleRequest.cursor`` on, and returns one
  ``CandlePage`` per interval, all covering the same span, with the cursor to resume from. The trades gap
  fill needs this (one download fills the gaps of every interval).
- ``GroupedDailySource`` (capability, Massive): every ticker's daily candle of one market in one call.

A capability is declared by inheriting its class, and callers test it with ``isinstance`` against that
declared class (never by probing for a method). Sources are found by name in ``feefifofunds.sources.registry``.

The bulk archive import (``ingest_sequential``) is not a ``Source``: it reads files, stages them and writes in
time order (``feefifofunds.ingestion.archive``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, ClassVar, Self

import polars as pl

if TYPE_CHECKING:
    from .http import ApiClient

CANDLE_SCHEMA: dict[str, pl.DataType] = {
    "time": pl.Datetime("us", "UTC"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "trade_count": pl.Int64(),
    "vwap": pl.Float64(),
}


def empty_candles() -> pl.DataFrame:
    return pl.DataFrame(schema=CANDLE_SCHEMA)


@dataclass(frozen=True)
class CandleRequest:
    """What a caller asks a source for; ``start`` inclusive, ``end`` exclusive, both UTC.

    ``cursor``: resume a paged fetch from a cursor an earlier ``CandlePage`` gave (``PagedSource`` and
    ``MultiIntervalSource`` only).
    """

    ticker: str
    quote_currency: str
    interval_minutes: int
    start: datetime
    end: datetime
    category: str = "CRYPTO"
    cursor: str | None = None


@dataclass(frozen=True)
class CandlePage:
    """One answer of a ``PagedSource`` (or, per interval, of a ``MultiIntervalSource``).

    ``candles``: finished candles in the request's range (CANDLE_SCHEMA). ``covered_from`` (inclusive) and
    ``covered_until`` (exclusive) bound what the answer speaks for: a candle time in that span without a
    candle had no trades. Both are None when nothing came back. ``cursor`` resumes after this page.
    """

    candles: pl.DataFrame
    covered_from: datetime | None = None
    covered_until: datetime | None = None
    cursor: str | None = None


class SourceError(Exception):
    """A source could not give candles; the message is for the user and never contains a secret.

    ``fatal``: the same error will happen for every further request (a rejected key): stop the run.
    """

    fatal = False


class Source(ABC):
    """An API source: a range fetch over one HTTP session (closed by ``with`` or ``close()``)."""

    name: ClassVar[str]  # stored in assetprice.source; the registry key too (but see the registry)
    intervals: ClassVar[tuple[int, ...]]  # the candle intervals (minutes) this source can give
    intervals_help: ClassVar[str]  # the same, for ``--help``

    def __init__(self, client: ApiClient):
        self.client = client

    @classmethod
    @abstractmethod
    def from_settings(cls) -> Self:
        """A source configured from settings and environment; raises ``SourceError`` when its key is missing."""

    @abstractmethod
    def fetch(self, request: CandleRequest) -> pl.DataFrame:
        """Finished candles in [start, end) with CANDLE_SCHEMA, sorted by time."""

    @property
    def requests(self) -> int:
        """HTTP requests made so far (every attempt counts), for the run summary."""
        return self.client.requests

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class PagedSource(Source):
    """Capability: one request's worth of candles plus what the answer covered (what the gap backfill needs)."""

    @abstractmethod
    def fetch_page(self, request: CandleRequest) -> CandlePage: ...


class MultiIntervalSource(Source):
    """Capability: one pass over the source's raw data gives candles of several intervals (Kraken's trades).

    ``fetch_pages`` reads at most ``max_requests`` pages from ``request.cursor`` on (None: from
    ``request.start``) and answers one ``CandlePage`` per interval: the candles it *finished* in
    ``[start, end)``, the span it newly covered, and the cursor to resume from (the same on every page; None
    when the range is done). A candle only partly read is never given out; it is carried in the cursor.
    """

    @abstractmethod
    def fetch_pages(self, request: CandleRequest, intervals: tuple[int, ...], *,
                    max_requests: int = 1) -> dict[int, CandlePage]: ...


class GroupedDailySource(Source):
    """Capability: the daily candles of every ticker of one market in one call."""

    @abstractmethod
    def grouped_market(self, category: str) -> str | None:
        """The market whose grouped call holds assets of ``category`` (None: not offered)."""

    @abstractmethod
    def grouped_symbol(self, ticker: str, category: str, quote_currency: str) -> str:
        """The ticker as it appears in the grouped answer's ``ticker`` column."""

    @abstractmethod
    def grouped_daily(self, day: date, market: str) -> pl.DataFrame:
        """CANDLE_SCHEMA plus ``ticker``: every ticker's daily candle of ``market`` on ``day``."""
