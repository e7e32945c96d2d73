"""Comparing a file's candles with those already stored: how many a file changed, how many are stored."""

from __future__ import annotations

import polars as pl

from feefifofunds.store.series import PRICE_COLUMNS


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

