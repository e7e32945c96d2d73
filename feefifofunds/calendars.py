"""Trading calendars: when each market trades, so that gaps are judged against its sessions.

Every asset names a calendar (``Asset.calendar``): ``24/7`` (crypto: every candle of every day is
expected), ``24/5`` (currencies: the week from Sunday 17:00 to Friday 17:00 New York) or an exchange code
of the ``exchange_calendars`` library (``XNYS``, ``XLON``, ... with its aliases such as ``XNAS``): that
exchange's sessions, holidays, early closes, lunch breaks and daylight saving.

``exchange_calendars`` rather than ``pandas_market_calendars``: the latter is a wrapper that depends on
``exchange_calendars`` for most of its exchanges, so this is the library that holds the data, with one
session table (open, break, close in UTC per session date) and fewer dependencies.

Candle times follow the project's grid (UTC, aligned on the epoch, see ``timeframes``). Expected candles:

- daily (1440 minutes): one per session, at the session date's midnight UTC (what the API sources store:
  daily stock bars start at midnight New York, floored to the UTC day);
- intraday: every candle whose interval overlaps the session's open hours (up to an early close, around a
  lunch break);
- longer intervals and ``24/7``: every candle on the grid (the gap detection in SQL).

A stored candle that is not expected is *extended hours* (intraday, on a session date of the exchange: pre-
and after-market bars) or *off-calendar* (a day the market was closed). Neither is ever a gap.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from feefifofunds.timeframes import epoch_micros, from_epoch_micros

ALWAYS = "24/7"
FOREX = "24/5"
DEFAULT_BY_CATEGORY = {"CRYPTO": ALWAYS, "STOCK": "XNYS", "COMMODITY": "XNYS", "CURRENCY": FOREX}
MAX_CALENDAR_INTERVAL = 1440  # coarser candles are judged on the plain grid
CALENDAR_START = "1990-01-01"  # exchange calendars are built from here on (once per process and exchange)

MICROS_PER_MINUTE = 60_000_000
MICROS_PER_DAY = 1440 * MICROS_PER_MINUTE
FOREX_ZONE = "America/New_York"
FOREX_HOUR = 17  # the forex day ends (and the next one starts) at 17:00 New York


class CalendarError(ValueError):
    """An unknown calendar code; the message names the valid ones."""


@lru_cache(maxsize=1)
def exchange_codes() -> tuple[str, ...]:
    """The exchange codes ``exchange_calendars`` knows (with aliases), without its own 24/5 and 24/7."""
    import exchange_calendars as xc

    return tuple(sorted(set(xc.get_calendar_names(include_aliases=True)) - {ALWAYS, FOREX}))


def calendar_codes() -> tuple[str, ...]:
    return (ALWAYS, FOREX, *exchange_codes())


def check_calendar(code: str) -> str:
    """``code`` as stored (upper-case), or ``CalendarError`` naming the valid codes."""
    value = (code or "").strip().upper()
    if value in calendar_codes():
        return value
    raise CalendarError(f"unknown exchange {code!r}: use one of {', '.join(calendar_codes())}")


def default_calendar(category: str) -> str:
    """The calendar an asset of ``category`` gets when none is given."""
    return DEFAULT_BY_CATEGORY.get(category, ALWAYS)


def follows_grid(code: str, interval_minutes: int) -> bool:
    """Whether every candle on the grid is expected (24/7 or intervals coarser than a day)."""
    return code == ALWAYS or interval_minutes > MAX_CALENDAR_INTERVAL


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Sessions:
    """Sessions as epoch microseconds (int64 arrays of one length): the session date's midnight UTC and
    the open hours; a session with a lunch break is two stretches with the same day."""

    days: np.ndarray
    opens: np.ndarray
    closes: np.ndarray


def _micros(values) -> np.ndarray:
    import pandas as pd  # imported when needed: it costs a second at start-up
    return np.asarray(pd.DatetimeIndex(values).as_unit("us").asi8, dtype=np.int64)


@lru_cache(maxsize=16)
def _exchange(code: str):
    import exchange_calendars as xc

    with warnings.catch_warnings():  # the library reads tz-aware Series.values, which pandas 3 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        return xc.get_calendar(code, start=CALENDAR_START)


def _forex_sessions(first_day: pd.Timestamp, last_day: pd.Timestamp) -> Sessions:
    """Monday to Friday, each from 17:00 New York the day before (Sunday for Monday) to 17:00 that day;
    wall-clock times, so daylight saving moves them in UTC."""
    import pandas as pd  # imported when needed: it costs a second at start-up
    days = pd.bdate_range(first_day, last_day)
    closes = (days + pd.Timedelta(hours=FOREX_HOUR)).tz_localize(FOREX_ZONE)
    opens = (days - pd.Timedelta(days=1) + pd.Timedelta(hours=FOREX_HOUR)).tz_localize(FOREX_ZONE)
    return Sessions(_micros(days), _micros(opens.tz_convert("UTC")), _micros(closes.tz_convert("UTC")))


def sessions(code: str, first: datetime, last: datetime) -> Sessions:
    """The sessions of ``code`` whose date lies from ``first``'s UTC date to ``last``'s (inclusive)."""
    import pandas as pd  # imported when needed: it costs a second at start-up
    first_day = pd.Timestamp(first.date())
    last_day = pd.Timestamp(last.date())
    if code == FOREX:
        return _forex_sessions(first_day, last_day)
    cal = _exchange(code)
    table = cal.schedule.loc[max(first_day, cal.first_session):min(last_day, cal.last_session)]
    days = _micros(table.index)
    opens, closes = _micros(table["open"]), _micros(table["close"])
    breaks = table["break_start"].notna().to_numpy()
    if breaks.any():
        b_start = _micros(table["break_start"][breaks])
        b_end = _micros(table["break_end"][breaks])
        days = np.concatenate([days[~breaks], days[breaks], days[breaks]])
        opens = np.concatenate([opens[~breaks], opens[breaks], b_end])
        closes = np.concatenate([closes[~breaks], b_start, closes[breaks]])
        order = np.argsort(opens, kind="stable")
        days, opens, closes = days[order], opens[order], closes[order]
    return Sessions(days, opens, closes)


def expected_times(code: str, interval_minutes: int, first: datetime, last: datetime) -> np.ndarray:
    """Expected candle times (epoch microseconds, sorted) in ``[first, last]`` on calendar ``code``.

    Vectorised: the sessions of the span, then every candle per session by one ``repeat`` and ``arange``."""
    lo, hi = epoch_micros(first), epoch_micros(last)
    step = int(interval_minutes) * MICROS_PER_MINUTE
    if follows_grid(code, interval_minutes):
        start = -(-lo // step) * step
        return np.arange(start, hi + 1, step, dtype=np.int64)
    s = sessions(code, first - timedelta(days=1), last + timedelta(days=1))
    if interval_minutes == 1440:
        times = np.unique(s.days)
    else:
        starts = s.opens // step * step  # the candle that holds the open
        counts = np.maximum(0, -(-(s.closes - starts) // step))  # up to the last one that starts before close
        offsets = np.arange(counts.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        times = np.unique(np.repeat(starts, counts) + offsets * step)
    return times[(times >= lo) & (times <= hi)]


def missing_runs(code: str, interval_minutes: int, stored_us: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of expected candles missing between the first and last of ``stored_us`` (sorted epoch
    microseconds), as (first, last, candles). Daily runs may span closed days (one run of two sessions over a
    weekend); intraday runs end where the expected candles stop being adjacent (the close)."""
    if not len(stored_us):
        return []
    expected = expected_times(code, interval_minutes, from_epoch_micros(int(stored_us[0])),
                              from_epoch_micros(int(stored_us[-1])))
    idx = np.flatnonzero(~np.isin(expected, stored_us))
    if not len(idx):
        return []
    breaks = np.diff(idx) != 1
    if interval_minutes < 1440:
        breaks |= np.diff(expected[idx]) != interval_minutes * MICROS_PER_MINUTE
    cuts = np.flatnonzero(breaks)
    starts = np.concatenate([[0], cuts + 1])
    ends = np.concatenate([cuts, [len(idx) - 1]])
    return [(int(expected[idx[a]]), int(expected[idx[b]]), int(b - a + 1)) for a, b in zip(starts, ends, strict=True)]


def extended_hours(code: str, interval_minutes: int, times_us: np.ndarray) -> np.ndarray:
    """Which of ``times_us`` (candles that are not expected) lie on a session date of the exchange, in its
    own time zone: pre- and after-market bars. Always False for daily candles, 24/7 and 24/5."""
    import pandas as pd  # imported when needed: it costs a second at start-up
    times_us = np.asarray(times_us, dtype=np.int64)
    if code in (ALWAYS, FOREX) or interval_minutes >= 1440 or not len(times_us):
        return np.zeros(len(times_us), dtype=bool)
    cal = _exchange(code)
    local = pd.DatetimeIndex(times_us.astype("datetime64[us]")).tz_localize("UTC").tz_convert(cal.tz)
    local_days = _micros(local.tz_localize(None).normalize())
    first, last = pd.Timestamp(local_days.min(), unit="us"), pd.Timestamp(local_days.max(), unit="us")
    days = sessions(code, first.to_pydatetime(), last.to_pydatetime()).days
    return np.isin(local_days, days)


def off_calendar(code: str, interval_minutes: int, times_us: np.ndarray) -> np.ndarray:
    """Which of ``times_us`` (epoch microseconds) are candles on a day the market was closed: neither an
    expected candle nor an extended-hours one. Always False on the 24/7 grid."""
    times_us = np.asarray(times_us, dtype=np.int64)
    if follows_grid(code, interval_minutes) or not len(times_us):
        return np.zeros(len(times_us), dtype=bool)
    first, last = times_us.min(), times_us.max()
    expected = expected_times(code, interval_minutes, from_epoch_micros(first), from_epoch_micros(last))
    outside = ~np.isin(times_us, expected)
    outside[outside] = ~extended_hours(code, interval_minutes, times_us[outside])
    return outside


REGULAR, EXTENDED, OFF_CALENDAR = "regular", "extended", "off_calendar"


def session_labels(code: str, interval_minutes: int, times_us: np.ndarray) -> np.ndarray:
    """Each candle's place in the calendar: ``regular`` (an expected candle), ``extended`` (pre- or after-
    market) or ``off_calendar`` (a day the market was closed)."""
    times_us = np.asarray(times_us, dtype=np.int64)
    labels = np.full(len(times_us), REGULAR, dtype=object)
    if len(times_us) and not follows_grid(code, interval_minutes):
        expected = expected_times(code, interval_minutes, from_epoch_micros(times_us.min()),
                                  from_epoch_micros(times_us.max()))
        outside = np.flatnonzero(~np.isin(times_us, expected))
        extended = extended_hours(code, interval_minutes, times_us[outside])
        labels[outside] = np.where(extended, EXTENDED, OFF_CALENDAR)
    return labels
