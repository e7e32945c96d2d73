"""calendars: expected candle times per market (holidays, early closes, daylight saving, the forex week),
defaults by category and the error for an unknown code. Dates are written down by hand (tests.support.sessions)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from feefifofunds import calendars
from feefifofunds.gaps.detection import Gap, session_gaps
from feefifofunds.timeframes import epoch_micros, from_epoch_micros
from tests.support.sessions import EARLY_CLOSE, HOLIDAYS, SESSIONS, nyse_days, utc


def times(code, interval, first, last):
    return [from_epoch_micros(t) for t in calendars.expected_times(code, interval, first, last)]


def micros(*moments):
    return np.asarray([epoch_micros(m) for m in moments], dtype=np.int64)


def test_daily_sessions_skip_weekends_and_holidays():
    days = times("XNYS", 1440, utc(2026, 9, 1), utc(2026, 11, 30))
    assert len(days) == SESSIONS and not {d.date() for d in days} & HOLIDAYS
    assert utc(2026, 11, 27) in days  # an early close is a session
    every = set(nyse_days(date(2026, 9, 1), date(2026, 11, 30))) | {date(2026, 10, 14)}  # the left-out one too
    assert [d.date() for d in days] == sorted(every)


def test_intraday_follows_the_open_hours_across_daylight_saving_and_an_early_close():
    # EDT: 09:30-16:00 New York is 13:30-20:00 UTC, hourly candles 13:00..19:00 (the 13:00 one holds the open).
    assert times("XNYS", 60, utc(2026, 10, 30), utc(2026, 10, 31)) == [utc(2026, 10, 30, h) for h in range(13, 20)]
    # EST after 2026-11-01: one hour later in UTC; the weekend between expects nothing.
    assert times("XNYS", 60, utc(2026, 10, 31), utc(2026, 11, 3)) == [utc(2026, 11, 2, h) for h in range(14, 21)]
    # The early close at 13:00 New York (18:00 UTC): the last candle starts at 17:00 UTC.
    early = utc(EARLY_CLOSE.year, EARLY_CLOSE.month, EARLY_CLOSE.day)
    assert times("XNYS", 60, early, utc(2026, 11, 28)) == [utc(2026, 11, 27, h) for h in range(14, 18)]
    assert len(times("XNYS", 1, early, utc(2026, 11, 28))) == 210  # 09:30 .. 12:59


def test_forex_week_runs_from_sunday_to_friday_five_pm_new_york():
    hours = times("24/5", 60, utc(2026, 11, 20, 20), utc(2026, 11, 22, 23))
    assert hours == [utc(2026, 11, 20, 20), utc(2026, 11, 20, 21), utc(2026, 11, 22, 22), utc(2026, 11, 22, 23)]
    assert [d.weekday() for d in times("24/5", 1440, utc(2026, 11, 16), utc(2026, 11, 22))] == [0, 1, 2, 3, 4]


def test_around_the_clock_is_the_grid():
    assert times("24/7", 1440, utc(2026, 11, 20, 6), utc(2026, 11, 23)) == [utc(2026, 11, d) for d in (21, 22, 23)]
    assert calendars.follows_grid("XNYS", 10080) and not calendars.follows_grid("XNYS", 1440)


def test_extended_hours_are_session_days_outside_the_open_hours():
    flags = calendars.extended_hours("XNYS", 60, micros(utc(2026, 11, 2, 9), utc(2026, 11, 2, 23),
                                                        utc(2026, 11, 26, 15), utc(2026, 11, 28, 15)))
    assert flags.tolist() == [True, True, False, False]  # pre-market, after-hours, Thanksgiving, Saturday
    assert not calendars.extended_hours("XNYS", 1440, micros(utc(2026, 11, 26))).any()


def test_session_gaps_are_runs_of_missing_sessions():
    stored = micros(*(utc(d.year, d.month, d.day) for d in nyse_days(date(2026, 11, 2), date(2026, 11, 30))
                      if d not in (date(2026, 11, 20), date(2026, 11, 23))))
    (gap,) = session_gaps(7, "USD", 1440, "XNYS", stored)
    assert gap == Gap(7, "USD", 1440, utc(2026, 11, 20), utc(2026, 11, 23), 2, calendar="XNYS")
    assert gap.times() == [utc(2026, 11, 20), utc(2026, 11, 23)]  # Friday and Monday: one gap of two sessions
    hourly = micros(*(utc(2026, 11, 2, h) for h in (14, 15, 18, 19, 20)), utc(2026, 11, 3, 14))
    assert session_gaps(7, "USD", 60, "XNYS", hourly) == [Gap(7, "USD", 60, utc(2026, 11, 2, 16),
                                                              utc(2026, 11, 2, 17), 2, calendar="XNYS")]  # no night


@pytest.mark.parametrize("category, code", [("CRYPTO", "24/7"), ("STOCK", "XNYS"), ("COMMODITY", "XNYS"),
                                            ("CURRENCY", "24/5")])
def test_defaults_by_category(category, code):
    assert calendars.default_calendar(category) == code


def test_unknown_code_names_the_valid_ones():
    assert calendars.check_calendar(" xnas ") == "XNAS"
    with pytest.raises(calendars.CalendarError, match=r"unknown exchange 'NOPE': use one of 24/7, 24/5, .*XNYS"):
        calendars.check_calendar("NOPE")
