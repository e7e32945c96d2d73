"""Reads of the price table by series: the series key, its one filter, and the stored times and candles.

A *series* is (asset, interval, quote currency, source): the key columns of ``assetprice`` besides time.
The reads here (the archive job's comparison with stored candles, the API loaders' and the trades fill's
stored times) and ``coverage.candles`` (the web's candle pages) filter with ``series_where`` and go through
``client.query`` (one connection kept per thread). Every value is a bind parameter; times are sent as
naive UTC, the form QuestDB takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import polars as pl

from feefifofunds.timeframes import as_utc, naive_utc

from . import client, schema
from .config import DEFAULT_ALIAS

# The values of a candle besides its time (what a comparison of two versions of a candle looks at).
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume", "trade_count")
_STORED_SCHEMA = {"time": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
                  "close": pl.Float64, "volume": pl.Float64, "trade_count": pl.Int64}


@dataclass(frozen=True)
class SeriesKey:
    """One series: what a reader asks for, what the writer labels rows with, a key of caches and dicts."""

    asset_id: int
    interval_minutes: int
    quote_currency: str
    source: str


def series_where(asset_id: int | None = None, interval_minutes: int | None = None,
                 quote_currency: str | None = None, source: str | None = None, *,
                 start: datetime | None = None, end: datetime | None = None,
                 last: datetime | None = None) -> tuple[str, list[object]]:
    """The ``WHERE`` condition (without the keyword) and its parameters for candles of the series given:
    each column that is not None must match; time is ``>= start``, ``< end`` and ``<= last`` (each if given).
    For one series: ``series_where(**asdict(key), ...)``."""
    where: list[str] = []
    params: list[object] = []
    for column, value in (("asset_id", None if asset_id is None else int(asset_id)),
                          ("interval_minutes", None if interval_minutes is None else int(interval_minutes)),
                          ("quote_currency", quote_currency), ("source", source)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    for op, bound in ((">=", start), ("<", end), ("<=", last)):
        if bound is not None:
            where.append(f"time {op} %s")
            params.append(naive_utc(bound))
    return " AND ".join(where), params


def stored_times(key: SeriesKey, *, start: datetime | None = None, end: datetime | None = None,
                 last: datetime | None = None, alias: str = DEFAULT_ALIAS,
                 table: str = schema.TABLE) -> set[datetime]:
    """Times (UTC) of the series' stored candles within the bounds (``series_where``'s)."""
    where, params = series_where(**asdict(key), start=start, end=end, last=last)
    return {as_utc(t) for (t,) in client.query(f"SELECT time FROM {table} WHERE {where}", params, alias=alias)}


def stored_times_by_asset(quotes: dict[int, str], interval_minutes: int, source: str, *, start: datetime,
                          end: datetime, alias: str = DEFAULT_ALIAS,
                          table: str = schema.TABLE) -> dict[int, set[datetime]]:
    """Stored candle times in [start, end) of many assets at once (one query), each in the quote currency
    ``quotes`` gives for it; an asset with none stored is absent."""
    where, params = series_where(interval_minutes=interval_minutes, source=source, start=start, end=end)
    rows = client.query(f"SELECT asset_id, quote_currency, time FROM {table} WHERE {where}", params, alias=alias)
    found: dict[int, set[datetime]] = {}
    for asset_id, quote, moment in rows:
        if quotes.get(asset_id) == quote:
            found.setdefault(asset_id, set()).add(as_utc(moment))
    return found


def stored_candles(key: SeriesKey, first: int, last: int, *, alias: str = DEFAULT_ALIAS,
                   table: str = schema.TABLE) -> pl.DataFrame:
    """What QuestDB holds for one series between two Unix times (inclusive), ``time`` as Unix seconds."""
    where, params = series_where(**asdict(key), start=datetime.fromtimestamp(first, UTC),
                                 last=datetime.fromtimestamp(last, UTC))
    rows = client.query(f"SELECT cast(time AS LONG) / 1000000, {', '.join(PRICE_COLUMNS)} FROM {table} "
                        f"WHERE {where}", params, alias=alias)
    return pl.DataFrame(rows, schema=_STORED_SCHEMA, orient="row")


def stored_candles_of(keys: Sequence[SeriesKey], first: int, last: int, *, alias: str = DEFAULT_ALIAS,
                      table: str = schema.TABLE, via: str | None = None) -> pl.DataFrame:
    """``stored_candles`` of many series of one interval and source in one read (their assets' rows of that
    interval between the two times, kept for the series asked: the quote is matched here); ``series`` says
    whose each row is (an index into ``keys``). Read through QuestDB's Parquet export (``client.export``:
    the values are written into the statement, all of them integers, times and the source name), or over
    PGWire when the server cannot export Parquet; ``via`` ("export", "pgwire") forces one way."""
    (interval, source), = {(k.interval_minutes, k.source) for k in keys}
    assets = sorted({k.asset_id for k in keys})
    start, end = datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)
    columns = f"asset_id, quote_currency, cast(time AS LONG) / 1000000 AS time, {', '.join(PRICE_COLUMNS)}"
    sql = (f"SELECT {columns} FROM {table} WHERE interval_minutes = {{}} AND source = {{}} AND time >= {{}} "
           f"AND time <= {{}} AND asset_id IN ({', '.join(['{}'] * len(assets))})")
    frame = None
    if via in (None, "export"):
        try:
            found = client.export(sql.format(*map(client.literal, [interval, source, start, end, *assets])),
                                  alias=alias)
            frame = pl.from_arrow(found).cast({"asset_id": pl.Int32, "quote_currency": pl.String, **_STORED_SCHEMA})
        except client.QuestDBError:
            if via == "export":
                raise
    if frame is None:
        rows = client.query(sql.format(*["%s"] * (4 + len(assets))),
                            [interval, source, naive_utc(start), naive_utc(end), *assets], alias=alias, binary=True)
        frame = pl.DataFrame(rows, schema={"asset_id": pl.Int32, "quote_currency": pl.String, **_STORED_SCHEMA},
                             orient="row")
    wanted = pl.DataFrame({"asset_id": [k.asset_id for k in keys], "quote_currency": [k.quote_currency for k in keys],
                           "series": range(len(keys))},
                          schema={"asset_id": pl.Int32, "quote_currency": pl.String, "series": pl.Int32})
    return frame.join(wanted, on=["asset_id", "quote_currency"], how="inner").select("series", *_STORED_SCHEMA)
