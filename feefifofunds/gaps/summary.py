"""Gaps per series for readers (the dashboard and the API): counts and lists, cached per store version.

Gap detection itself is ``detection``; this module keeps its answers per *store version*
(``store.coverage.store_version``) in the shared cache, so a request never scans more than its own series
except the first one after a write. Trailing gaps (last candle to the last finished one) depend on the
clock and are computed at read time with the same rule as the backfill (``trailing.last_finished``); a
series with a calendar counts the sessions (or in-session candles) missed since its last candle.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from feefifofunds import calendars
from feefifofunds.store import client, schema
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.coverage import (
    SeriesCoverage,
    cache_key,
    cached_at,
    series_coverage,
    shared_cache,
    store_version,
)
from feefifofunds.store.series import SeriesKey, series_where
from feefifofunds.timeframes import as_utc, from_epoch_micros

from . import detection
from .trailing import last_finished


@dataclass(frozen=True)
class SpanGap:
    """Missing candles of one series: times of the first and last missing candle (inclusive, UTC)."""

    start: datetime
    end: datetime
    missing_candles: int
    confirmed_empty: bool = False


def _detect(alias: str, table: str, source: str, asset_ids=None, intervals=None, quote_currency=None):
    found = detection.detect_gaps(alias, asset_ids=asset_ids, intervals=intervals, quote_currency=quote_currency,
                                  source=source, table=table)
    real, confirmed = detection.split_confirmed_empty(found)
    by_series: dict[SeriesKey, list[SpanGap]] = defaultdict(list)
    for flag, gaps in ((False, real), (True, confirmed)):
        for g in gaps:
            by_series[SeriesKey(g.asset_id, g.interval_minutes, g.quote_currency, source)].append(
                SpanGap(as_utc(g.start), as_utc(g.end), int(g.missing_candles), flag))
    for gaps in by_series.values():
        gaps.sort(key=lambda g: g.start)
    return by_series


def _all_gaps(alias: str, table: str, version: str) -> dict[SeriesKey, int]:
    """One scan of the whole table: open-gap counts per series; each series' gap list cached on the way."""
    key = cache_key("gapcounts", version)
    counts = shared_cache().get(key)
    if counts is not None:
        return counts
    every = series_coverage(alias=alias, table=table, version=version)
    sources = sorted({c.source for c in every})
    counts: dict[SeriesKey, int] = {c.key: 0 for c in every}
    per_series: dict[str, list[SpanGap]] = {cache_key("gaps", version, c.key): [] for c in every}
    for source in sources:
        for series, gaps in _detect(alias, table, source).items():
            counts[series] = sum(1 for g in gaps if not g.confirmed_empty)
            per_series[cache_key("gaps", version, series)] = gaps
    shared_cache().set_many(per_series)
    shared_cache().set(key, counts)
    return counts


def open_gap_counts(*, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
                    version: str | None = None) -> dict[SeriesKey, int]:
    """Real (not confirmed no-trade) gap counts per series key; cached per store version."""
    return _all_gaps(alias, table, version or store_version(alias=alias, table=table))


def gaps_of(cov: SeriesCoverage, *, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
            version: str | None = None) -> list[SpanGap]:
    """Every gap of one series between its first and last candle (real and confirmed empty), by time."""
    version = version or store_version(alias=alias, table=table)
    return cached_at(cache_key("gaps", version, cov.key),
                   lambda: _detect(alias, table, cov.source, [cov.asset_id], [cov.interval_minutes],
                                   cov.quote_currency).get(cov.key, []))


def open_gaps_of(series: list[SeriesCoverage], *, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
                 version: str | None = None) -> dict[SeriesKey, int]:
    """Real gap counts of the given series only (each scanned once per store version), not the whole store."""
    version = version or store_version(alias=alias, table=table)
    return {c.key: sum(not g.confirmed_empty for g in gaps_of(c, alias=alias, table=table, version=version))
            for c in series}


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
