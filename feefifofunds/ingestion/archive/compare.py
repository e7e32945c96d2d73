"""Comparing a file's candles with those already stored: how many a file changed, how many are stored."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import psycopg

from feefifofunds.store import schema

from ..writer import SeriesKey

PRICE_COLUMNS = ("open", "high", "low", "close", "volume", "trade_count")


def _compare(stored: pl.DataFrame, candles: pl.DataFrame) -> tuple[int, int]:
    """(stored candles at the times of ``candles``, how many of them differ: null-safe, exact floats)."""
    if stored.height == 0 or candles.height == 0:
        return 0, 0
    joined = stored.join(candles.select("time", *PRICE_COLUMNS), on="time", how="inner", suffix="_new")
    if joined.height == 0:
        return 0, 0
    differs = pl.any_horizontal([pl.col(c).cast(pl.Float64).ne_missing(pl.col(f"{c}_new").cast(pl.Float64))
                                 for c in PRICE_COLUMNS])
    return joined.height, int(joined.select(differs.sum()).item())


def changed_candles(stored: pl.DataFrame, candles: pl.DataFrame) -> int:
    """Stored candles (same time) whose values differ from ``candles``."""
    return _compare(stored, candles)[1]


def same_candles(stored: pl.DataFrame, candles: pl.DataFrame) -> int:
    """Candles of ``candles`` that are stored with exactly these values."""
    at_same_time, differ = _compare(stored, candles)
    return at_same_time - differ


def stored_candles(conn: psycopg.Connection, key: SeriesKey, first: int, last: int) -> pl.DataFrame:
    """What QuestDB holds for one series between two Unix times (inclusive), ``time`` as Unix seconds."""
    rows = conn.execute(
        f"SELECT cast(time AS LONG) / 1000000, {', '.join(PRICE_COLUMNS)} FROM {schema.TABLE} "
        "WHERE asset_id = %s AND interval_minutes = %s AND quote_currency = %s AND source = %s "
        "AND time >= %s AND time <= %s",
        (key.asset_id, key.interval_minutes, key.quote_currency, key.source,
         datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC))).fetchall()
    return pl.DataFrame(rows, schema={"time": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
                                      "close": pl.Float64, "volume": pl.Float64, "trade_count": pl.Int64},
                        orient="row")
