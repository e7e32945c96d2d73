"""Read-side queries for the dashboard, the JSON API and exports: coverage, candles, resampling, gaps.

Prices are read only through ``feefifofunds.store.client`` (QuestDB over PGWire). Every value coming from
a user is a bind parameter; the only text put into SQL is the interval of ``SAMPLE BY``, and that is an
integer checked against ``RESAMPLE_TARGETS`` first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from feefifofunds.gaps import detection
from feefifofunds.store import client, schema
from feefifofunds.store.coverage import SeriesCoverage, as_utc, series_coverage  # noqa: F401 (re-exported)

INTERVALS: tuple[int, ...] = (1, 5, 15, 30, 60, 240, 720, 1440)
# Coarser targets a series can be resampled to (all divide a day, so calendar alignment is midnight UTC).
RESAMPLE_TARGETS: tuple[int, ...] = (5, 15, 30, 60, 240, 720, 1440)

CANDLE_COLUMNS: tuple[str, ...] = ("time", "open", "high", "low", "close", "volume", "trade_count", "vwap")
RESAMPLED_COLUMNS: tuple[str, ...] = ("time", "open", "high", "low", "close", "volume", "trade_count")


class CoverageError(ValueError):
    """A request that cannot be answered as asked (the message is for the user)."""


def can_resample(interval: int, target: int) -> bool:
    return target in RESAMPLE_TARGETS and target > interval and target % interval == 0


# ---------------------------------------------------------------- coverage


def sources_of(
    asset_id: int, interval: int, quote_currency: str, *, alias: str = "questdb", table: str = schema.TABLE
) -> list[str]:
    rows = client.query(
        f"SELECT DISTINCT source FROM {table} WHERE asset_id = %s AND interval_minutes = %s AND quote_currency = %s",
        (int(asset_id), int(interval), quote_currency),
        alias=alias,
    )
    return sorted(str(r[0]) for r in rows)


def resolve_source(
    asset_id: int, interval: int, quote_currency: str, source: str | None, *, alias: str = "questdb",
    table: str = schema.TABLE,
) -> str | None:
    """The one source of a series when none was asked; None when the series has no candles."""
    if source:
        return source
    found = sources_of(asset_id, interval, quote_currency, alias=alias, table=table)
    if len(found) > 1:
        raise CoverageError(f"the series has candles from several sources ({', '.join(found)}): choose one")
    return found[0] if found else None


# ---------------------------------------------------------------- candles


def _series_where(asset_id: int, interval: int, quote_currency: str, source: str | None,
                  start: datetime | None, end: datetime | None, after: datetime | None) -> tuple[str, list]:
    where = ["asset_id = %s", "interval_minutes = %s", "quote_currency = %s"]
    params: list[object] = [int(asset_id), int(interval), quote_currency]
    if source is not None:
        where.append("source = %s")
        params.append(source)
    lower = max((t for t in (start, after) if t is not None), default=None)
    if lower is not None:
        where.append("time >= %s")
        params.append(lower)
    if end is not None:
        where.append("time < %s")
        params.append(end)
    return " AND ".join(where), params


def candles(
    asset_id: int,
    interval: int,
    quote_currency: str,
    *,
    source: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    resample: int | None = None,
    after: datetime | None = None,
    limit: int = 1000,
    alias: str = "questdb",
    table: str = schema.TABLE,
) -> list[tuple]:
    """One page of candles in [start, end) ordered by time, beginning at ``after`` (inclusive).

    With ``resample`` the candles are aggregated in QuestDB into calendar-aligned buckets of that many
    minutes (first open, max high, min low, last close, summed volume and trade count); ``after`` must
    then be a bucket start. Rows are tuples in ``CANDLE_COLUMNS`` / ``RESAMPLED_COLUMNS`` order with
    UTC-aware times.
    """
    limit = int(limit)
    if resample is not None:
        resample = int(resample)
        if not can_resample(interval, resample):
            raise CoverageError(f"cannot resample {interval}-minute candles to {resample} minutes")
    where, params = _series_where(asset_id, interval, quote_currency, source, start, end, after)
    if resample is None:
        sql = f"SELECT {', '.join(CANDLE_COLUMNS)} FROM {table} WHERE {where} ORDER BY time LIMIT %s"
    else:
        sql = (
            "SELECT * FROM ("
            "SELECT time, first(open) open, max(high) high, min(low) low, last(close) close, "
            "sum(volume) volume, sum(trade_count) trade_count "
            f"FROM {table} WHERE {where} SAMPLE BY {resample:d}m ALIGN TO CALENDAR"
            ") ORDER BY time LIMIT %s"
        )
    params.append(limit)
    rows = client.query(sql, params, alias=alias)
    return [(as_utc(r[0]), *r[1:]) for r in rows]


def iter_candles(
    asset_id: int, interval: int, quote_currency: str, *, source: str | None = None,
    start: datetime | None = None, end: datetime | None = None, chunk_rows: int = 100_000,
    alias: str = "questdb", table: str = schema.TABLE,
) -> Iterator[list[tuple]]:
    """Chunks of at most ``chunk_rows`` candles of one source, by keyset pagination on time (bounded memory)."""
    after: datetime | None = None
    while True:
        rows = candles(asset_id, interval, quote_currency, source=source, start=start, end=end, after=after,
                       limit=chunk_rows, alias=alias, table=table)
        if not rows:
            return
        yield rows
        if len(rows) < chunk_rows:
            return
        after = rows[-1][0] + timedelta(microseconds=1)


# ---------------------------------------------------------------- gaps


def read_gaps(
    *,
    asset_ids: Iterable[int] | None = None,
    intervals: Iterable[int] | None = None,
    quote_currency: str | None = None,
    source: str = "kraken",
    alias: str = "questdb",
    table: str = schema.TABLE,
) -> tuple[list, list]:
    """(real gaps, confirmed no-trade intervals) from the gap detector.

    The single place the web layer and the API read gap information from.
    """
    found = detection.detect_gaps(
        alias,
        asset_ids=list(asset_ids) if asset_ids is not None else None,
        intervals=list(intervals) if intervals is not None else None,
        quote_currency=quote_currency,
        source=source,
        table=table,
    )
    real, confirmed = detection.split_confirmed_empty(found)
    return list(real), list(confirmed)


def series_gaps(
    asset_id: int, interval: int, quote_currency: str, *, source: str = "kraken",
    start: datetime | None = None, end: datetime | None = None, alias: str = "questdb",
    table: str = schema.TABLE,
) -> tuple[list, list]:
    """Gaps of one series overlapping [start, end): (real gaps, confirmed no-trade)."""
    real, confirmed = read_gaps(asset_ids=[asset_id], intervals=[interval], quote_currency=quote_currency,
                                source=source, alias=alias, table=table)

    def keep(g) -> bool:
        if g.asset_id != asset_id or g.interval_minutes != interval or g.quote_currency != quote_currency:
            return False
        if start is not None and as_utc(g.end) < start:
            return False
        return not (end is not None and as_utc(g.start) >= end)

    return [g for g in real if keep(g)], [g for g in confirmed if keep(g)]


def open_gap_counts(
    *, alias: str = "questdb", table: str = schema.TABLE
) -> dict[tuple[int, int, str, str], int]:
    """Real (not confirmed no-trade) gap counts per (asset_id, interval, quote_currency, source).

    Gaps are detected per source; every source present in the table is asked.
    """
    rows = client.query(f"SELECT DISTINCT source FROM {table}", alias=alias)
    counts: dict[tuple[int, int, str, str], int] = defaultdict(int)
    for (source,) in rows:
        real, _ = read_gaps(source=str(source), alias=alias, table=table)
        for g in real:
            counts[(g.asset_id, g.interval_minutes, g.quote_currency, str(source))] += 1
    return dict(counts)


def gap_dict(gap) -> dict:
    return {
        "start": as_utc(gap.start).isoformat().replace("+00:00", "Z"),
        "end": as_utc(gap.end).isoformat().replace("+00:00", "Z"),
        "missing_candles": int(gap.missing_candles),
    }
