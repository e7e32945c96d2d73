"""Candles built from trades, for several intervals in one pass.

This is how a candle is defined: the trades whose time falls in ``[start, start + interval)`` give
open = first price, high = max, low = min, close = last price, volume = sum of volumes, trades = count and
vwap = sum(price x volume) / volume. An interval with no trade has no candle, and once the trades are known
to cover it, it is *proven* empty.

Trades arrive in pages, oldest first (Kraken's Trades endpoint). ``CandleBuilder`` keeps one open candle
per interval and nothing else, so memory stays bounded however long the history: a candle is released
only when the trades are known to have passed its end (a later trade was seen, or the caller says the
history is complete up to a time), never while it could still change. A run stopped mid-way therefore
never writes a partly covered candle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from feefifofunds.timeframes import candle_start_expr

TRADE_SCHEMA: dict[str, pl.DataType] = {"time": pl.Float64(), "price": pl.Float64(), "volume": pl.Float64()}

# Integer seconds of the candle's start; the rest as in sources.CANDLE_SCHEMA (time converted by the caller).
_PARTIAL_SCHEMA = {"start": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
                   "close": pl.Float64, "volume": pl.Float64, "trade_count": pl.Int64, "pv": pl.Float64}


def _aggregate(trades: pl.DataFrame, interval_minutes: int) -> pl.DataFrame:
    """Per-interval partial candles of one time-ordered batch of trades (``pv`` = sum of price x volume)."""
    return (
        trades.group_by(candle_start_expr(pl.col("time"), interval_minutes).alias("start"), maintain_order=True)
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("volume").sum().alias("volume"),
            pl.len().cast(pl.Int64).alias("trade_count"),
            (pl.col("price") * pl.col("volume")).sum().alias("pv"),
        )
        .select(list(_PARTIAL_SCHEMA))
        .cast(_PARTIAL_SCHEMA)
    )


def _merge(carried: dict, head: dict) -> dict:
    """One candle from two consecutive slices of its trades (``carried`` first)."""
    return {
        "start": carried["start"],
        "open": carried["open"],
        "high": max(carried["high"], head["high"]),
        "low": min(carried["low"], head["low"]),
        "close": head["close"],
        "volume": carried["volume"] + head["volume"],
        "trade_count": carried["trade_count"] + head["trade_count"],
        "pv": carried["pv"] + head["pv"],
    }


def _finish(partials: pl.DataFrame) -> pl.DataFrame:
    """Partial candles to candles: ``time`` (Unix seconds), OHLC, volume, trade_count, vwap."""
    vwap = pl.when(pl.col("volume") > 0).then(pl.col("pv") / pl.col("volume")).otherwise(pl.col("close"))
    return partials.select(
        pl.col("start").alias("time"), "open", "high", "low", "close", "volume", "trade_count", vwap.alias("vwap"),
    )


@dataclass
class CandleBuilder:
    """Feed time-ordered trade batches; take finished candles per interval as they are released."""

    intervals: tuple[int, ...]
    _open: dict[int, dict | None] = field(default_factory=dict)
    _done: dict[int, list[pl.DataFrame]] = field(default_factory=dict)
    last_time: float | None = None

    def __post_init__(self) -> None:
        self.intervals = tuple(sorted(set(self.intervals)))
        for minutes in self.intervals:
            self._open[minutes] = None
            self._done[minutes] = []

    def add(self, trades: pl.DataFrame) -> None:
        """One batch of trades (``time`` float seconds, ``price``, ``volume``), not older than the last batch."""
        if trades.height == 0:
            return
        trades = trades.select(list(TRADE_SCHEMA)).cast(TRADE_SCHEMA)
        first = trades.item(0, "time")
        if self.last_time is not None and first < self.last_time:
            raise ValueError(f"trades out of order: {first} after {self.last_time}")
        if not trades.get_column("time").is_sorted():
            raise ValueError("trades within a batch are not in time order")
        self.last_time = trades.item(trades.height - 1, "time")
        for minutes in self.intervals:
            parts = _aggregate(trades, minutes)
            done = self._done[minutes]
            head = parts.row(0, named=True)
            carried = self._open[minutes]
            if carried is not None:
                if head["start"] == carried["start"]:
                    head = _merge(carried, head)
                else:  # a later interval has begun: the carried candle is complete
                    done.append(pl.DataFrame([carried], schema=_PARTIAL_SCHEMA))
            if parts.height == 1:
                self._open[minutes] = head
                continue
            done.append(pl.DataFrame([head], schema=_PARTIAL_SCHEMA))
            if parts.height > 2:
                done.append(parts.slice(1, parts.height - 2))
            self._open[minutes] = parts.row(parts.height - 1, named=True)

    def complete_until(self, seconds: int) -> None:
        """The history is known to hold every trade before ``seconds``: release open candles that end by then."""
        for minutes in self.intervals:
            carried = self._open[minutes]
            if carried is not None and carried["start"] + minutes * 60 <= seconds:
                self._done[minutes].append(pl.DataFrame([carried], schema=_PARTIAL_SCHEMA))
                self._open[minutes] = None

    def take(self, interval_minutes: int) -> pl.DataFrame:
        """Every candle of one interval released since the last ``take`` (time as Unix seconds, sorted)."""
        frames, self._done[interval_minutes] = self._done[interval_minutes], []
        if not frames:
            return _finish(pl.DataFrame(schema=_PARTIAL_SCHEMA))
        return _finish(pl.concat(frames))

    def snapshot(self) -> dict[int, dict]:
        """The candles still being built, to save with a cursor (plain JSON-able values)."""
        return {m: dict(c) for m, c in self._open.items() if c is not None}

    def restore(self, open_candles: dict[int, dict], last_time: float | None) -> None:
        """Continue a walk saved with ``snapshot``: its open candles and the newest trade time seen."""
        for minutes, candle in open_candles.items():
            if minutes in self._open:
                self._open[minutes] = dict(candle)
        self.last_time = last_time

    def open_start(self, interval_minutes: int) -> int | None:
        """The start of the candle still being built (not released), if any."""
        carried = self._open[interval_minutes]
        return None if carried is None else carried["start"]


def candles_from_trades(trades: pl.DataFrame, intervals: tuple[int, ...], *,
                        complete_until: int | None = None) -> dict[int, pl.DataFrame]:
    """All candles of a whole batch of trades, per interval (convenience over ``CandleBuilder``)."""
    builder = CandleBuilder(intervals)
    builder.add(trades)
    if complete_until is not None:
        builder.complete_until(complete_until)
    return {minutes: builder.take(minutes) for minutes in builder.intervals}


def empty_starts(covered_from: int, covered_to: int, candle_starts: pl.Series, interval_minutes: int) -> list[int]:
    """Interval starts in ``[covered_from, covered_to)`` whose whole interval is covered and has no candle:
    trades prove them empty."""
    step = interval_minutes * 60
    first = -(-covered_from // step) * step  # the first interval that starts inside the covered span
    present = set(candle_starts.to_list())
    return [t for t in range(first, covered_to - step + 1, step) if t not in present]
