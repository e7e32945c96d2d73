"""The trailing gap: from a series' last stored candle up to the last *finished* candle of now.

Kraken's archive ends at a quarter's end and is published weeks later, so right after an import every
series stops months before today. Gaps *between* stored candles (``detection.detect_gaps``) never see that
span; this module does. Trailing gaps grow with the clock, so they are computed when asked, never stored.

The candle that contains ``now`` is unfinished (its values still change): the last finished candle is the
one before it, and a trailing gap never reaches into the unfinished one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from feefifofunds.timeframes import floor_time

from .detection import Gap, SeriesInfo


def last_finished(now: datetime, interval_minutes: int) -> datetime:
    """The start of the newest candle that has ended by ``now`` (``start + interval <= now``)."""
    return floor_time(now, interval_minutes) - timedelta(minutes=interval_minutes)


def trailing_gap(series: SeriesInfo, now: datetime) -> Gap | None:
    """The missing candles after ``series.last`` up to the last finished one, or None when it is current."""
    step = timedelta(minutes=series.interval_minutes)
    end = last_finished(now, series.interval_minutes)
    missing = int((end - series.last) / step)
    if missing <= 0:
        return None
    return Gap(series.asset_id, series.quote_currency, series.interval_minutes, series.last + step, end, missing,
               trailing=True)


def trailing_gaps(series: Iterable[SeriesInfo], now: datetime) -> list[Gap]:
    return [g for g in (trailing_gap(s, now) for s in series) if g is not None]


def span_gap(asset_id: int, quote_currency: str, interval_minutes: int, since: datetime, now: datetime) -> Gap | None:
    """A series with no data at all, filled from an explicit ``--since``: every candle from the first one at or
    after ``since`` up to the last finished one."""
    step = timedelta(minutes=interval_minutes)
    start = floor_time(since, interval_minutes)
    if start < since:
        start += step
    end = last_finished(now, interval_minutes)
    if end < start:
        return None
    return Gap(asset_id, quote_currency, interval_minutes, start, end, int((end - start) / step) + 1, trailing=True)
