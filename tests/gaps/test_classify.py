from datetime import UTC, datetime, timedelta

import pytest

from feefifofunds.gaps.classify import REASON_NO_API_INTERVAL, REASON_TOO_OLD, candles_from_today, classify_gap
from feefifofunds.gaps.detection import Gap

NOW = datetime(2025, 1, 20, 12, 34, tzinfo=UTC)


def gap_at(interval: int, distance: int, count: int = 1) -> Gap:
    """A gap whose first missing candle is ``distance`` candles before the current one."""
    step = timedelta(minutes=interval)
    current = datetime(2025, 1, 20, tzinfo=UTC) if interval == 1440 else NOW.replace(minute=0)
    if interval < 60:
        current = NOW.replace(minute=NOW.minute - NOW.minute % interval)
    start = current - distance * step
    return Gap(1, "USD", interval, start, start + (count - 1) * step, count)


@pytest.mark.parametrize("interval", [1, 5, 15, 30, 60, 1440])
def test_720_boundary_counts_the_unfinished_candle(interval):
    """An answer holds 720 candles: the current one and the 719 finished before it."""
    assert candles_from_today(gap_at(interval, 719), NOW) == 720
    for distance in (718, 719):
        inside = classify_gap(gap_at(interval, distance, 5), NOW)
        assert (inside.fillable, inside.candles_from_today, inside.overflow_candles, inside.reason) == (
            True, distance + 1, 0, "")
    outside = classify_gap(gap_at(interval, 720, 5), NOW)
    assert (outside.fillable, outside.candles_from_today, outside.overflow_candles, outside.reason) == (
        False, 721, 1, REASON_TOO_OLD)


def test_reference_example_arithmetic():
    # SOL 2022-03-01 → 2022-03-15, daily, "today" 2025-02-09: 1,076 days back. The reference prints 1,076 and
    # "too old by 356"; counted as the endpoint counts (the current candle included) it is 1,077 and 357.
    g = Gap(1, "USD", 1440, datetime(2022, 3, 1, tzinfo=UTC), datetime(2022, 3, 15, tzinfo=UTC), 15)
    c = classify_gap(g, datetime(2025, 2, 9, 18, 0, tzinfo=UTC))
    assert (c.fillable, c.candles_from_today, c.overflow_candles) == (False, 1077, 357)


def test_240_minute_candles_floor_on_the_epoch_grid():
    now = datetime(2025, 1, 20, 13, 0, tzinfo=UTC)  # current 240-minute candle began at 12:00
    g = Gap(1, "USD", 240, datetime(2025, 1, 20, 0, tzinfo=UTC), datetime(2025, 1, 20, 0, tzinfo=UTC), 1)
    assert candles_from_today(g, now) == 4


def test_720_minute_interval_is_never_api_fillable():
    recent = classify_gap(gap_at(720, 2), NOW)
    assert (recent.fillable, recent.reason, recent.overflow_candles) == (False, REASON_NO_API_INTERVAL, 0)
    old = classify_gap(gap_at(720, 800), NOW)
    assert (old.fillable, old.reason, old.overflow_candles) == (False, REASON_NO_API_INTERVAL, 81)
