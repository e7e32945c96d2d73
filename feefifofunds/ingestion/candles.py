"""Checks every candle must pass before it is written, whatever its source."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class CandleProblem:
    row: int  # 0-based row index in the frame that was checked
    reason: str


def validate_candles(df: pl.DataFrame, interval_minutes: int, *, time_col: str = "time") -> CandleProblem | None:
    """The first bad candle, or None. Vectorized: one pass of polars expressions, no Python loop per row.

    ``time_col`` may hold Unix seconds (Int64) or a Datetime.
    """
    if df.height == 0:
        return None
    ts = pl.col(time_col)
    seconds = ts if df.schema[time_col].is_integer() else ts.dt.epoch("s")
    prices = ["open", "high", "low", "close"]
    checks: list[tuple[pl.Expr, str]] = [
        (pl.any_horizontal([pl.col(c).is_null() | pl.col(c).is_nan() | pl.col(c).is_infinite()
                            for c in [*prices, "volume"]]), "missing or non-finite price or volume"),
        (seconds.is_null(), "missing timestamp"),
        (seconds < 0, "negative timestamp"),
        (seconds % (interval_minutes * 60) != 0, f"timestamp not aligned to the {interval_minutes}-minute interval"),
        (pl.col("high") < pl.col("low"), "high < low"),
        (pl.any_horizontal([pl.col(c) < 0 for c in prices]), "negative price"),
        (pl.col("volume") < 0, "negative volume"),
    ]
    if "trade_count" in df.columns:
        checks.append((pl.col("trade_count") < 0, "negative trade count"))
    flags = df.select([expr.fill_null(False).alias(str(i)) for i, (expr, _) in enumerate(checks)])
    first: CandleProblem | None = None
    for i, (_, reason) in enumerate(checks):
        hits = flags.get_column(str(i)).arg_true()
        if hits.len() and (first is None or hits[0] < first.row):
            first = CandleProblem(int(hits[0]), reason)
    return first
