"""Where candles come from. Every source gives normalized candles behind one small interface.

A *source* turns "this asset, quote currency, interval and time range" into a polars DataFrame with
``CANDLE_SCHEMA``: one row per finished candle, sorted by time, validated by ``validate_candles``. What
happens next (asset ids, the ``source`` symbol, sending to QuestDB) is the writer's job
(``feefifofunds.ingestion.writer``), the same for every source. A new provider is one module here that
implements ``Source``, plus its tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import polars as pl

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
    """What a caller asks a source for; ``start`` inclusive, ``end`` exclusive, both UTC."""

    ticker: str
    quote_currency: str
    interval_minutes: int
    start: datetime
    end: datetime
    category: str = "CRYPTO"


class SourceError(Exception):
    """A source could not give candles; the message is for the user and never contains a secret."""


class Source(Protocol):
    name: str  # stored in assetprice.source
    intervals: tuple[int, ...]  # the candle intervals (minutes) this source can give

    def fetch(self, request: CandleRequest) -> pl.DataFrame:
        """Finished candles in [start, end) with CANDLE_SCHEMA, sorted by time."""
        ...
