"""Turning an API's bars into CANDLE_SCHEMA frames: shared by the API sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from feefifofunds.timeframes import floor_seconds_expr

from . import CANDLE_SCHEMA, CandleRequest, SourceError, empty_candles
from .validation import validate_candles


def candles_from_columns(columns: dict[str, list], *, time_unit: str, interval_minutes: int,
                         ticker: list[str] | None = None) -> pl.DataFrame:
    """A CANDLE_SCHEMA frame from parallel lists (``time`` in ``time_unit`` 's' or 'ms' since the epoch).

    Times are floored to the interval (daily stock bars start at midnight New York, not UTC), and
    duplicate times keep the last bar. With ``ticker`` (one per row) the frame gets a ``ticker`` column and
    duplicates are per (ticker, time).
    """
    n = len(columns.get("time", []))
    if n == 0:
        empty = empty_candles()
        return empty if ticker is None else empty.with_columns(pl.lit(None, pl.String).alias("ticker"))
    data = {name: columns.get(name) or [None] * n for name in CANDLE_SCHEMA}
    frame = pl.DataFrame(
        {
            "time": pl.Series(data["time"], dtype=pl.Int64),
            **{c: pl.Series(data[c], dtype=pl.Float64, strict=False) for c in ("open", "high", "low", "close",
                                                                              "volume", "vwap")},
            "trade_count": pl.Series(data["trade_count"], dtype=pl.Float64, strict=False).cast(pl.Int64),
        }
    )
    seconds = pl.col("time") // 1000 if time_unit == "ms" else pl.col("time")
    frame = frame.with_columns(
        floor_seconds_expr(seconds, interval_minutes).alias("time"),
        pl.col("volume").fill_null(0.0),
    )
    keys = ["time"]
    if ticker is not None:
        frame = frame.with_columns(pl.Series("ticker", ticker, dtype=pl.String))
        keys = ["ticker", "time"]
    frame = frame.select([*CANDLE_SCHEMA, *keys[:-1]]).cast(CANDLE_SCHEMA)
    return frame.unique(keys, keep="last", maintain_order=True).sort(keys)


def finish(frame: pl.DataFrame, request: CandleRequest, *, provider: str, now: datetime | None = None) -> pl.DataFrame:
    """Keep finished candles in [start, end), then check them: the end of every source's ``fetch``."""
    now = now or datetime.now(UTC)
    step = timedelta(minutes=request.interval_minutes)
    frame = frame.filter(
        (pl.col("time") >= request.start) & (pl.col("time") < request.end) & (pl.col("time") + step <= now)
    )
    problem = validate_candles(frame, request.interval_minutes)
    if problem is not None:
        row = frame.row(problem.row, named=True)
        raise SourceError(f"{provider} sent a bad candle for {request.ticker} at {row['time']}: {problem.reason}")
    return frame
