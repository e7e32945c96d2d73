"""Gaps per series for readers (the dashboard and the API): counts and lists, cached per store version.

The gaps are the ones the store keeps (``store.kept``, brought up to date by every write): a request reads
its own series' rows from the catalog, and the asset list one row per series; answers are cached per *store
version* (``store.coverage.store_version``). A store whose gaps are not built yet says so
(``kept.NotBuilt``, or None for counts), never a silent zero. Trailing gaps (last candle to the last
finished one) depend on the clock and are computed at read time with the same rule as the backfill
(``trailing.last_finished``); a series with a calendar counts the sessions (or in-session candles) missed
since its last candle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from feefifofunds import calendars
from feefifofunds.store import client, kept, schema
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.coverage import (
    SeriesCoverage,
    cache_key,
    cached_at,
    store_version,
)
from feefifofunds.store.series import SeriesKey, series_where
from feefifofunds.timeframes import from_epoch_micros

from .trailing import last_finished


@dataclass(frozen=True)
class SpanGap:
    """Missing candles of one series: times of the first and last missing candle (inclusive, UTC)."""

    start: datetime
    end: datetime
    missing_candles: int
    confirmed_empty: bool = False


def _pieces(cov: SeriesCoverage, alias: str, table: str) -> list[SpanGap]:
    rows = kept.series_pieces(cov.key, alias, table)
    if rows is None:
        raise kept.NotBuilt()
    return [SpanGap(from_epoch_micros(a), from_epoch_micros(b), int(n), bool(empty)) for a, b, n, empty in rows]


def open_gap_counts(*, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
                    version: str | None = None) -> dict[SeriesKey, int] | None:
    """Real (not confirmed no-trade) gap counts per series key, as kept (one catalog read, cached per store
    version); None when the store's gaps are not built yet."""
    version = version or store_version(alias=alias, table=table)

    def counts() -> dict[SeriesKey, int] | None:
        rows = kept.coverage_rows(alias, table)
        return None if rows is None else {SeriesKey(a, i, q, s): int(n) for a, i, q, s, *_, n in rows}

    return cached_at(cache_key("gapcounts", version), counts) if kept.is_built(alias, table) else None


def gaps_of(cov: SeriesCoverage, *, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
            version: str | None = None) -> list[SpanGap]:
    """Every gap of one series between its first and last candle (real and confirmed empty), by time, as kept;
    raises ``kept.NotBuilt`` when the store's gaps are not built yet."""
    version = version or store_version(alias=alias, table=table)
    return cached_at(cache_key("gaps", version, cov.key), lambda: _pieces(cov, alias, table))


def open_gaps_of(series: list[SeriesCoverage], *, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
                 version: str | None = None) -> dict[SeriesKey, int] | None:
    """Real gap counts of the given series only; None when the store's gaps are not built yet."""
    counts = open_gap_counts(alias=alias, table=table, version=version)
    return None if counts is None else {c.key: counts.get(c.key, 0) for c in series}


def trailing_gap(cov: SeriesCoverage, now: datetime | None = None,
                 calendar: str = calendars.ALWAYS) -> SpanGap | None:
    """Candles missing after the last one up to the last finished one (the current candle never counts); with
    a calendar, only the expected ones (a Friday's daily candle on a Sunday misses nothing)."""
    step = timedelta(minutes=cov.interval_minutes)
    end = last_finished(now or datetime.now(UTC), cov.interval_minutes)
    if not calendars.follows_grid(calendar, cov.interval_minutes):
        if end <= cov.last:
            return None
        expected = calendars.expected_times(calendar, cov.interval_minutes, cov.last + step, end)
        if not len(expected):
            return None
        return SpanGap(from_epoch_micros(expected[0]), from_epoch_micros(expected[-1]), len(expected))
    missing = int((end - cov.last) / step)
    if missing <= 0:
        return None
    return SpanGap(cov.last + step, end, missing)


@dataclass(frozen=True)
class OffHours:
    """Stored candles of a series with a calendar that are not expected candles: ``off_calendar`` (times of
    candles on days the market was closed: provider data kept as sent) and ``extended_hours`` (how many pre-
    and after-market candles)."""

    off_calendar: tuple[datetime, ...] = ()
    extended_hours: int = 0


def off_hours(cov: SeriesCoverage, calendar: str, *, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
              version: str | None = None) -> OffHours:
    """The series' candles outside its calendar's sessions; cached per store version (none for 24/7)."""
    if calendars.follows_grid(calendar, cov.interval_minutes):
        return OffHours()

    def compute() -> OffHours:
        where, params = series_where(cov.asset_id, cov.interval_minutes, cov.quote_currency, cov.source)
        stored = np.asarray([t for (t,) in client.query(f"SELECT cast(time AS LONG) FROM {table} WHERE {where}",
                                                        params, alias=alias)], dtype=np.int64)
        expected = calendars.expected_times(calendar, cov.interval_minutes, cov.first, cov.last)
        outside = np.sort(stored[~np.isin(stored, expected)])
        closed = calendars.off_calendar(calendar, cov.interval_minutes, outside)
        return OffHours(tuple(from_epoch_micros(t) for t in outside[closed]), int((~closed).sum()))

    version = version or store_version(alias=alias, table=table)
    return cached_at(cache_key("off-hours", version, (cov.key, calendar)), compute)
