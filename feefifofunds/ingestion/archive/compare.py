"""Comparing a file's candles with those already stored: how many a file changed, how many are stored."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from feefifofunds.store.series import PRICE_COLUMNS

_DIFFERS = pl.any_horizontal([pl.col(c).cast(pl.Float64).ne_missing(pl.col(f"{c}_new").cast(pl.Float64))
                              for c in PRICE_COLUMNS])  # null-safe, exact floats


def _joined(stored: pl.DataFrame, candles: pl.DataFrame, on: Sequence[str]) -> pl.DataFrame:
    """The stored candles at the keys of ``candles``, with the new values beside them (``*_new``)."""
    return stored.join(candles.select(*on, *PRICE_COLUMNS), on=list(on), how="inner", suffix="_new")


def _compare(stored: pl.DataFrame, candles: pl.DataFrame) -> tuple[int, int]:
    """(stored candles at the times of ``candles``, how many of them differ)."""
    if stored.height == 0 or candles.height == 0:
        return 0, 0
    joined = _joined(stored, candles, ["time"])
    if joined.height == 0:
        return 0, 0
    return joined.height, int(joined.select(_DIFFERS.sum()).item())


def changed_candles(stored: pl.DataFrame, candles: pl.DataFrame) -> int:
    """Stored candles (same time) whose values differ from ``candles``."""
    return _compare(stored, candles)[1]


def same_candles(stored: pl.DataFrame, candles: pl.DataFrame) -> int:
    """Candles of ``candles`` that are stored with exactly these values."""
    at_same_time, differ = _compare(stored, candles)
    return at_same_time - differ


def changed_by(stored: pl.DataFrame, candles: pl.DataFrame, by: str) -> dict[int, int]:
    """``changed_candles`` of many files at once: stored and new candles matched on ``by`` (a column both
    have, naming the file) and time, the differing ones counted per file."""
    if stored.height == 0 or candles.height == 0:
        return {}
    counts = _joined(stored, candles, [by, "time"]).filter(_DIFFERS).group_by(by).len()
    return dict(zip(counts.get_column(by).to_list(), counts.get_column("len").to_list(), strict=True))
