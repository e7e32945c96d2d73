"""The NYSE case of the calendar tests: daily AAPL from 2026-09-01 to 2026-11-30 (Labor Day and Thanksgiving
closed, the Friday after Thanksgiving an early close) with one real session left out, and hourly AAPL across
the end of daylight saving (2026-11-01). The fakes are told the same holidays; nothing here asks the
calendar library, so the tests compare the code with dates written down by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.models import Asset
from feefifofunds.sources import CANDLE_SCHEMA
from feefifofunds.store import client, schema
from feefifofunds.store.series import SeriesKey

DAILY_SPAN = ("--start", "2026-09-01", "--end", "2026-11-30")
HOLIDAYS = {date(2026, 9, 7), date(2026, 11, 26)}  # Labor Day, Thanksgiving
EARLY_CLOSE = date(2026, 11, 27)  # 13:00 New York
LEFT_OUT = date(2026, 10, 14)  # a Wednesday session the provider does not have
WEEKDAYS = 65  # Monday to Friday, 2026-09-01 .. 2026-11-30
SESSIONS = WEEKDAYS - len(HOLIDAYS)  # 63

HOURLY_SPAN = ("--start", "2026-10-29", "--end", "2026-11-03")  # Thursday to Tuesday, the clocks go back Sunday


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def nyse_massive(fake) -> None:
    """Make a FakeMassive answer AAPL in NYSE sessions with the one session left out."""
    fake.holidays |= HOLIDAYS
    fake.left_out.add(("AAPL", LEFT_OUT))


def nyse_days(first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        if day.weekday() < 5 and day not in HOLIDAYS and day != LEFT_OUT:
            days.append(day)
        day += timedelta(days=1)
    return days


def write_daily(asset: Asset, source: str) -> int:
    """The daily case written straight to QuestDB (what the Massive backfill stores): the candle count."""
    days = nyse_days(date(2026, 9, 1), date(2026, 11, 30))
    n = len(days)
    frame = pl.DataFrame({"time": [utc(d.year, d.month, d.day) for d in days], "open": [100.0] * n,
                          "high": [101.0] * n, "low": [99.0] * n, "close": [100.5] * n, "volume": [1e6] * n,
                          "trade_count": [None] * n, "vwap": [None] * n}, schema=CANDLE_SCHEMA)
    with PriceWriter("questdb") as writer:
        writer.add(frame, SeriesKey(asset.pk, 1440, asset.quote_currency, source))
    client.wait_for_wal(schema.TABLE)
    return n
