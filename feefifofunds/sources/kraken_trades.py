"""Kraken's public Trades endpoint as a source of candles for any interval, as far back as the pair's history.

The OHLC endpoint only answers the 720 most recent candles; the Trades endpoint pages through a pair's whole
trade history, 1,000 trades a page (Kraken reference, section 4). Candles built from those trades are the
candles by definition (``trade_candles``), for every interval at once: one pass over the trades of a span fills
the 1-minute and the hourly gaps of the same hours.

Paging follows Kraken's advice: the first request asks ``since`` = the span's start in Unix seconds, every
next one passes the ``last`` cursor of the previous answer. The walk ends when a trade at or after the span's
end appears (everything before the end is then known), or when an answer brings nothing new (the present: the
history is complete up to the moment of that answer, less a few seconds for trades still being published).

A long walk is cut by the caller's budget; ``TradesCursor`` is where it stopped: Kraken's cursor plus the
candles still being built (one per interval), so a resumed walk downloads nothing twice and an interval
only partly covered when the run stopped is written only once it is complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import polars as pl

from . import CANDLE_SCHEMA, CandlePage, CandleRequest, MultiIntervalSource
from .kraken_rest import API_INTERVALS, KrakenAPIError, KrakenPair, KrakenRestSource
from .trade_candles import CandleBuilder

PAGE_SIZE = 1000
# Trades of the last few seconds may still be on their way into Kraken's history: never call those complete.
SETTLE_SECONDS = 5


@dataclass
class TradesCursor:
    """Where a walk over one pair's trades stopped: resume from here and nothing is downloaded twice."""

    start: int  # Unix seconds the walk began at: candles from here on are built from all their trades
    end: int  # Unix seconds the walk runs to (exclusive)
    last: str  # Kraken's cursor for the next page
    intervals: tuple[int, ...] = ()  # the intervals whose candles the walk builds
    open: dict[int, dict] = field(default_factory=dict)  # interval -> the candle still being built
    covered: dict[int, int] = field(default_factory=dict)  # interval -> every candle before this is known
    last_time: float | None = None  # time of the newest trade seen
    last_id: int | None = None  # Kraken's id of the newest trade seen: a trade is never counted twice

    def to_json(self) -> str:
        return json.dumps({"start": self.start, "end": self.end, "last": self.last, "intervals": list(self.intervals),
                           "last_time": self.last_time, "last_id": self.last_id,
                           "open": {str(k): v for k, v in self.open.items()},
                           "covered": {str(k): v for k, v in self.covered.items()}})

    @classmethod
    def from_json(cls, text: str) -> TradesCursor:
        data = json.loads(text)
        return cls(int(data["start"]), int(data["end"]), str(data["last"]), tuple(data.get("intervals") or ()),
                   {int(k): v for k, v in (data.get("open") or {}).items()},
                   {int(k): int(v) for k, v in (data.get("covered") or {}).items()}, data.get("last_time"),
                   data.get("last_id"))

    @property
    def position(self) -> int:
        """Seconds up to which the walk has read (the newest trade's time, or the start)."""
        return int(self.last_time) if self.last_time is not None else self.start

    def fits(self, start: int, intervals: tuple[int, ...]) -> bool:
        """Can a walk over ``[start, ...)`` for ``intervals`` go on from here? Only if this walk began no later,
        has not read past ``start``'s successors it would need again, and builds every interval asked for."""
        return self.start <= start <= max(self.position, self.start) and set(intervals) <= set(self.intervals)


@dataclass
class TradesChunk:
    """What one bounded stretch of a walk gave.

    ``candles[interval]``: finished candles (CANDLE_SCHEMA) in ``[start, end)`` whose whole interval the walk
    covered. ``covered[interval]``: (from, until) in Unix seconds, the span this stretch newly made known: every
    candle of it is in ``candles``, so a time in it without a candle had no trade. ``cursor``: where to resume,
    None when the walk is done.
    """

    candles: dict[int, pl.DataFrame]
    covered: dict[int, tuple[int, int]]
    cursor: TradesCursor | None
    requests: int
    trades: int


def parse_trades(rows: list) -> pl.DataFrame:
    """Kraken trade rows ``[price str, volume str, time float, side, type, misc, id]`` to time/price/volume/id,
    checked: a price that is not positive, a negative volume or a time out of order is Kraken's error, never
    a candle."""
    try:
        frame = pl.DataFrame(
            {"time": [float(r[2]) for r in rows], "price": [float(r[0]) for r in rows],
             "volume": [float(r[1]) for r in rows], "id": [int(r[6]) for r in rows]},
            schema={"time": pl.Float64, "price": pl.Float64, "volume": pl.Float64, "id": pl.Int64},
        )
    except (TypeError, ValueError, IndexError) as exc:
        raise KrakenAPIError(f"malformed trade from Kraken: {exc}") from None
    bad = frame.select(
        (~pl.col("price").is_finite() | (pl.col("price") <= 0) | ~pl.col("volume").is_finite()
         | (pl.col("volume") < 0) | ~pl.col("time").is_finite()).arg_true()
    ).to_series()
    if bad.len():
        raise KrakenAPIError(f"invalid trade from Kraken: {rows[bad[0]]!r}")
    if not frame.get_column("time").is_sorted():
        raise KrakenAPIError("Kraken's trades are not in time order")
    return frame


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _ceil_to(seconds: int, interval_minutes: int) -> int:
    step = interval_minutes * 60
    return -(-seconds // step) * step


class KrakenTradesSource(MultiIntervalSource):
    """Candles for several intervals from one walk over a pair's trades, on Kraken's REST client (pairs,
    rate limit, error array, retries shared with the OHLC source)."""

    name = "kraken"  # candles from trades are Kraken's candles: the same series as the archive and OHLC
    intervals = tuple(sorted({*API_INTERVALS, 720}))  # any interval; these are the ones the store keeps
    intervals_help = "any interval (candles rebuilt from the pair's whole trade history)"

    def __init__(self, rest: KrakenRestSource, *, clock: Callable[[], float] = time.time):
        super().__init__(rest.client)
        self.rest = rest
        self.clock = clock

    @classmethod
    def from_settings(cls) -> KrakenTradesSource:
        return cls(KrakenRestSource.from_settings())

    def fetch(self, request: CandleRequest) -> pl.DataFrame:
        """Every finished candle of one interval in [start, end): the whole walk, however many pages."""
        frames, cursor = [], request.cursor
        while True:
            page = self.fetch_pages(replace(request, cursor=cursor), (request.interval_minutes,),
                                    max_requests=100)[request.interval_minutes]
            frames.append(page.candles)
            cursor = page.cursor
            if cursor is None:
                return pl.concat(frames)

    def fetch_pages(self, request: CandleRequest, intervals: tuple[int, ...], *,
                    max_requests: int = 1) -> dict[int, CandlePage]:
        pair = self.rest.pair_for(request.ticker, request.quote_currency)
        saved = TradesCursor.from_json(request.cursor) if request.cursor else None
        chunk = self.walk(pair, intervals, request.start, request.end, cursor=saved, max_requests=max_requests)
        token = chunk.cursor.to_json() if chunk.cursor is not None else None
        return {m: CandlePage(chunk.candles[m], covered_from=_utc(chunk.covered[m][0]),
                              covered_until=_utc(chunk.covered[m][1]), cursor=token)
                for m in intervals}

    def page(self, pair: KrakenPair, since: str) -> tuple[pl.DataFrame, str]:
        """One request: the trades after ``since`` (seconds, or a cursor) and the cursor for the next page."""
        result = self.rest._get("/0/public/Trades", {"pair": pair.altname, "since": since, "count": PAGE_SIZE})
        keys = [k for k in result if k != "last"]
        rows = result.get(pair.key) if pair.key in result else (result[keys[0]] if len(keys) == 1 else None)
        if rows is None or "last" not in result:
            raise KrakenAPIError(f"Kraken Trades answer has no data for {pair.altname} (keys: {', '.join(keys)})")
        return parse_trades(rows), str(result["last"])

    def walk(self, pair: KrakenPair, intervals: tuple[int, ...], start: datetime, end: datetime, *,
             cursor: TradesCursor | None = None, max_requests: int = 1) -> TradesChunk:
        """Up to ``max_requests`` pages of the walk over ``[start, end)``, resuming from ``cursor``."""
        lo, hi = int(start.timestamp()), int(end.timestamp())
        if cursor is None or not cursor.fits(lo, intervals):
            cursor = TradesCursor(lo, hi, str(lo), tuple(sorted(set(intervals))))
        cursor.end = hi  # a trailing span grows with the clock between runs
        origin = cursor.start
        builder = CandleBuilder(cursor.intervals)
        builder.restore(cursor.open, cursor.last_time)
        requests = trades = 0
        done = False
        complete_until = None
        while requests < max_requests:
            frame, last = self.page(pair, cursor.last)
            requests += 1
            answered_at = self.clock()
            fresh = frame.filter(pl.col("id") > cursor.last_id) if cursor.last_id is not None else frame
            inside = fresh.filter(pl.col("time") < hi)
            builder.add(inside)
            trades += inside.height
            if inside.height:
                cursor.last_time = inside.item(inside.height - 1, "time")
                cursor.last_id = inside.item(inside.height - 1, "id")
            if fresh.height > inside.height:  # a trade at or after the end: everything before it is known
                complete_until, done = hi, True
                break
            if fresh.height == 0 or last == cursor.last:  # the present: complete up to this answer
                complete_until = min(hi, int(answered_at) - SETTLE_SECONDS)
                done = True
                break
            cursor.last = last
        if complete_until is not None:
            builder.complete_until(complete_until)
        candles: dict[int, pl.DataFrame] = {}
        covered: dict[int, tuple[int, int]] = {}
        for minutes in builder.intervals:
            first = _ceil_to(origin, minutes)  # an interval begun before the walk's start was not fully read
            out = builder.take(minutes).filter(pl.col("time") >= first)
            candles[minutes] = out.with_columns(
                pl.from_epoch("time", time_unit="s").dt.cast_time_unit("us").dt.replace_time_zone("UTC")
            ).select(list(CANDLE_SCHEMA)).cast(CANDLE_SCHEMA)
            open_start = builder.open_start(minutes)
            if open_start is not None:
                until = open_start
            elif complete_until is not None:
                until = complete_until - complete_until % (minutes * 60)
            else:  # no open candle, not complete: known up to the interval holding the newest trade
                seen = int(cursor.last_time) if cursor.last_time is not None else origin
                until = seen - seen % (minutes * 60)
            before = cursor.covered.get(minutes, first)
            covered[minutes] = (before, max(before, until))
            cursor.covered[minutes] = covered[minutes][1]
        cursor.open = builder.snapshot()
        return TradesChunk(candles, covered, None if done else cursor, requests, trades)

