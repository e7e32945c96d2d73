"""Which gaps Kraken's REST API can still fill: the reference's 720-candle arithmetic.

``candles_from_today`` counts candles from the current (unfinished) candle back to the gap's first missing
candle. Within 720 the gap is API-fillable; beyond, it is unfillable and ``overflow_candles`` says by how
much. 720-minute candles exist in the archive only, so their gaps are unfillable whatever their age.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from feefifofunds.sources.kraken_rest import API_INTERVALS, MAX_CANDLES
from feefifofunds.timeframes import floor_time

from .detection import Gap

REASON_TOO_OLD = "too_old"
REASON_NO_API_INTERVAL = "interval_not_in_api"


@dataclass(frozen=True)
class ClassifiedGap:
    gap: Gap
    candles_from_today: int
    fillable: bool
    overflow_candles: int  # candles beyond the 720 limit (0 if within it)
    reason: str = ""  # why it is unfillable: REASON_TOO_OLD or REASON_NO_API_INTERVAL


def candles_from_today(gap: Gap, now: datetime) -> int:
    current = floor_time(now, gap.interval_minutes)
    return max(0, int((current - gap.start) / gap.step))


def classify_gap(gap: Gap, now: datetime, *, limit: int = MAX_CANDLES) -> ClassifiedGap:
    distance = candles_from_today(gap, now)
    overflow = max(0, distance - limit)
    if gap.interval_minutes not in API_INTERVALS:
        return ClassifiedGap(gap, distance, False, overflow, REASON_NO_API_INTERVAL)
    if overflow:
        return ClassifiedGap(gap, distance, False, overflow, REASON_TOO_OLD)
    return ClassifiedGap(gap, distance, True, 0)


def classify(gaps: Iterable[Gap], now: datetime, *, limit: int = MAX_CANDLES) -> list[ClassifiedGap]:
    return [classify_gap(g, now, limit=limit) for g in gaps]
