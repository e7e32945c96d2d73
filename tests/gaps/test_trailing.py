"""Trailing gaps end at the last finished candle, never the unfinished one."""

from datetime import UTC, datetime, timedelta

from feefifofunds.gaps.detection import SeriesInfo
from feefifofunds.gaps.trailing import last_finished, span_gap, trailing_gap, trailing_gaps

NOW = datetime(2026, 11, 25, 14, 37, 12, tzinfo=UTC)


def series(interval: int, last: datetime) -> SeriesInfo:
    return SeriesInfo(1, "USD", interval, last - timedelta(days=30), last, 100)


def test_last_finished_candle():
    assert last_finished(NOW, 60) == datetime(2026, 11, 25, 13, tzinfo=UTC)
    assert last_finished(NOW, 1) == datetime(2026, 11, 25, 14, 36, tzinfo=UTC)
    assert last_finished(NOW, 1440) == datetime(2026, 11, 24, tzinfo=UTC)
    # Exactly on a boundary: the candle starting now has not finished.
    on = datetime(2026, 11, 25, 14, tzinfo=UTC)
    assert last_finished(on, 60) == datetime(2026, 11, 25, 13, tzinfo=UTC)


def test_trailing_gap_up_to_the_last_finished_candle():
    g = trailing_gap(series(60, datetime(2026, 9, 30, 23, tzinfo=UTC)), NOW)
    assert g.trailing and g.start == datetime(2026, 10, 1, tzinfo=UTC)
    assert g.end == datetime(2026, 11, 25, 13, tzinfo=UTC)
    assert g.missing_candles == len(g.times()) == 56 * 24 - 10
    assert g.times()[-1] == g.end


def test_current_series_has_no_trailing_gap():
    assert trailing_gap(series(60, datetime(2026, 11, 25, 13, tzinfo=UTC)), NOW) is None
    assert trailing_gaps([series(1, datetime(2026, 11, 25, 14, 36, tzinfo=UTC)),
                          series(1, datetime(2026, 11, 25, 14, 34, tzinfo=UTC))], NOW)[0].missing_candles == 2


def test_span_gap_for_an_empty_series_from_since():
    g = span_gap(1, "EUR", 1440, datetime(2026, 11, 20, 6, tzinfo=UTC), NOW)
    assert (g.start, g.end, g.missing_candles, g.quote_currency) == (
        datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC), 4, "EUR")
    assert span_gap(1, "USD", 1440, NOW, NOW) is None
