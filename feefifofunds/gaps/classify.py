"""Which gaps Kraken's REST API can still fill: the reference's 720-candle arithmetic.

``candles_from_today`` is how many candles an OHLC answer must hold to reach the gap's first missing candle,
counting the current, unfinished candle the answer always ends with (as the endpoint counts its 720). A gap
at distance ``d`` candles before the current one needs ``d + 1``: so a gap is API-fillable when it lies within
the 719 *finished* candles of an answer (``d <= 719``), and ``overflow_candles`` says by how much it misses.
720-minute candles exist in the archive only, so their gaps are unfillable whatever their age.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from feefifofunds.sources.kraken_rest import API_INTERVALS, MAX_CANDLES
from feefifofunds.timeframes import floor_time

from .detection import Gap

REASON_TOO_OLD = "too_old"
REASON_NO_API_INTERVAL = "interval_not_in_api"


class ClassifiedGap(NamedTuple):
    """A gap and what its distance from now allows (a named tuple: a survey makes one per gap)."""

    gap: Gap
    candles_from_today: int
    fillable: bool
    overflow_candles: int  # candles beyond the 720 limit (0 if within it)
    reason: str = ""  # why it is unfillable: REASON_TOO_OLD or REASON_NO_API_INTERVAL


def candles_from_today(gap: Gap, now: datetime) -> int:
    current = floor_time(now, gap.interval_minutes)
    return max(0, (current - gap.start) // gap.step) + 1


def classify_gap(gap: Gap, now: datetime, *, limit: int = MAX_CANDLES) -> ClassifiedGap:
    return classify([gap], now, limit=limit)[0]


def classify(gaps: Iterable[Gap], now: datetime, *, limit: int = MAX_CANDLES) -> list[ClassifiedGap]:
    """Every gap classified by its distance from now (``candles_from_today``, its arithmetic inlined), with the
    current candle and the step found once per interval: a survey of a large store classifies hundreds of
    thousands of gaps, so the loop makes its tuples itself (a call per gap costs a third)."""
    per: dict[int, tuple[datetime, timedelta, bool]] = {}
    out = []
    append = out.append
    for g in gaps:
        interval = g.interval_minutes
        at = per.get(interval)
        if at is None:
            at = per[interval] = (floor_time(now, interval), timedelta(minutes=interval), interval in API_INTERVALS)
        current, step, offered = at
        distance = max(0, (current - g.start) // step) + 1
        if not offered:
            append(ClassifiedGap(g, distance, False, max(0, distance - limit), REASON_NO_API_INTERVAL))
        elif distance > limit:
            append(ClassifiedGap(g, distance, False, distance - limit, REASON_TOO_OLD))
        else:
            append(ClassifiedGap(g, distance, True, 0))
    return out
