"""Gaps judged by each market's sessions, on the real QuestDB, with a Massive-shaped and a Finnhub-shaped
server that answer in NYSE sessions (``tests.support.sessions``): the one real gap shows everywhere (API, the
asset list, price_summary), night and extended-hours candles are no gaps, a bar on a closed day is kept and
shown as off-calendar, and changing an asset's calendar re-derives the cached answers."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from feefifofunds.gaps import summary
from feefifofunds.models import Asset
from feefifofunds.store import client as store
from feefifofunds.store.coverage import SeriesCoverage
from tests.support import api_fixtures as fx
from tests.support.json_api import get
from tests.support.sessions import (
    DAILY_SPAN,
    HOLIDAYS,
    HOURLY_SPAN,
    LEFT_OUT,
    SESSIONS,
    nyse_massive,
    utc,
)

api_settings, fake_finnhub, fake_massive = fx.api_settings, fx.fake_finnhub, fx.fake_massive  # fixtures

pytestmark = pytest.mark.django_db


def create(ticker="AAPL", category="STOCK", *extra):
    call_command("create_asset", "--ticker", ticker, "--name", ticker, "--category", category, *extra,
                 stdout=StringIO())
    return Asset.objects.get(ticker=ticker)


def backfill(*args) -> str:
    out = StringIO()
    call_command("backfill_prices", *args, stdout=out)
    return out.getvalue()


def stored_count() -> int:
    return store.query("SELECT count() FROM assetprice")[0][0]


def open_gaps(client, ticker="AAPL", interval=1440):
    _, listed = get(client, "/api/assets", q=ticker, gaps="1")
    _, detail = get(client, f"/api/assets/{ticker}")
    counts = {c["open_gaps"] for a in listed["assets"] for c in a["coverage"] if c["interval_minutes"] == interval}
    counts |= {c["open_gaps"] for c in detail["coverage"] if c["interval_minutes"] == interval}
    return counts


def test_daily_stock_shows_only_the_missing_session(client, questdb, fake_massive):
    aapl = create()
    assert aapl.calendar == "XNYS"
    nyse_massive(fake_massive)
    backfill("--ticker", "AAPL", "--source", "massive", *DAILY_SPAN)
    assert stored_count() == SESSIONS - 1

    status, body = get(client, "/api/gaps", ticker="AAPL", interval="1440")
    assert status == 200 and body["calendar"] == "XNYS"
    assert body["gaps"] == [{"start": "2026-10-14T00:00:00Z", "end": "2026-10-14T00:00:00Z", "missing_candles": 1}]
    assert body["confirmed_empty"] == [] and body["off_calendar"] == [] and body["extended_hours"] == 0
    assert open_gaps(client) == {1}
    page = client.get("/").content.decode()
    assert '<td class="num gaps">1</td>' in page

    for only in (("--ticker", "AAPL"), ()):  # the series shown, or the whole store's counts
        out = StringIO()
        call_command("price_summary", *only, stdout=out)
        header, row = [line for line in out.getvalue().splitlines() if "open gaps" in line or "AAPL" in line][:2]
        assert "open gaps" in header and row.rstrip(" │|").split()[-1] == "1"

    # Judged around the clock the same candles show every weekend and holiday: 15 gaps (the count).
    call_command("set_calendar", "--ticker", "AAPL", "--exchange", "24/7", stdout=StringIO())
    _, body = get(client, "/api/gaps", ticker="AAPL", interval="1440")
    assert len(body["gaps"]) == 15 and open_gaps(client) == {15}
    assert {"start": "2026-09-05T00:00:00Z", "end": "2026-09-07T00:00:00Z", "missing_candles": 3} in body["gaps"]
    call_command("set_calendar", "--ticker", "aapl", "--exchange", "xnys", stdout=StringIO())
    _, body = get(client, "/api/gaps", ticker="AAPL", interval="1440")
    assert [g["start"] for g in body["gaps"]] == [f"{LEFT_OUT}T00:00:00Z"] and open_gaps(client) == {1}


def test_bar_on_a_closed_day_is_kept_and_shown_off_calendar(client, questdb, fake_massive):
    create()
    nyse_massive(fake_massive)
    thanksgiving = max(HOLIDAYS)
    fake_massive.holiday_bars.add(("AAPL", thanksgiving))
    out = backfill("--ticker", "AAPL", "--source", "massive", *DAILY_SPAN)
    assert stored_count() == SESSIONS  # the 62 sessions and the holiday's bar, as sent
    assert "AAPL: 1 candle on days XNYS was closed, kept as sent (off-calendar, never gaps): 2026-11-26" in out
    _, body = get(client, "/api/gaps", ticker="AAPL", interval="1440")
    assert body["off_calendar"] == ["2026-11-26T00:00:00Z"]
    _, page = get(client, "/api/candles", ticker="AAPL", interval="1440", start="2026-11-25T00:00Z",
                  end="2026-11-28T00:00Z")
    assert [c["session"] for c in page["candles"]] == ["regular", "off_calendar", "regular"]
    assert [g["start"] for g in body["gaps"]] == ["2026-10-14T00:00:00Z"] and open_gaps(client) == {1}


def test_intraday_across_daylight_saving_has_no_night_gaps(client, questdb, fake_finnhub):
    create()
    missing = utc(2026, 11, 2, 15)  # Monday 10:00 New York (EST): a regular hour the provider lacks
    fake_finnhub.left_out.add(missing)
    backfill("--ticker", "AAPL", "--source", "finnhub", "--interval", "60", *HOURLY_SPAN)
    # 04:00-20:00 New York on 4 weekdays (Oct 29, 30, Nov 2, 3): 16 bars a day, one left out, and the last
    # one of Nov 3 (19:00 New York) starts on Nov 4 in UTC, after the range.
    assert stored_count() == 4 * 16 - 2
    _, body = get(client, "/api/gaps", ticker="AAPL", interval="60")
    assert body["gaps"] == [{"start": "2026-11-02T15:00:00Z", "end": "2026-11-02T15:00:00Z", "missing_candles": 1}]
    # In a session the candles 09:00..15:00 New York are expected (the 09:00 one holds the 09:30 open); the
    # other 9 a day are pre- and after-market bars: stored, counted as extended hours, never gaps.
    assert body["extended_hours"] == 4 * 9 - 1 and body["off_calendar"] == []
    assert open_gaps(client, interval=60) == {1}
    _, page = get(client, "/api/candles", ticker="AAPL", interval="60", start="2026-11-02T00:00Z",
                  end="2026-11-03T00:00Z")
    sessions = {c["time"][11:13]: c["session"] for c in page["candles"]}  # UTC hours of Monday (EST)
    assert page["calendar"] == "XNYS" and sessions["09"] == "extended" and sessions["14"] == "regular"
    assert sessions["20"] == "regular" and sessions["21"] == "extended" and "15" not in sessions
    times = {r[0] for r in store.query("SELECT time FROM assetprice WHERE time IN ('2026-10-30T13:00:00', "
                                       "'2026-11-02T14:00:00')")}
    assert len(times) == 2  # the first regular hour moved by an hour in UTC when the clocks went back


def test_trailing_gap_counts_sessions_not_days():
    friday = SeriesCoverage(1, 1440, "USD", "massive", utc(2026, 9, 1), utc(2026, 11, 27), 60)
    sunday = utc(2026, 11, 29, 12)
    assert summary.trailing_gap(friday, sunday, calendar="XNYS") is None
    assert summary.trailing_gap(friday, sunday).missing_candles == 1  # around the clock: Saturday is missing
    tuesday = utc(2026, 12, 1, 12)
    gap = summary.trailing_gap(friday, tuesday, calendar="XNYS")
    assert (gap.start, gap.end, gap.missing_candles) == (utc(2026, 11, 30), utc(2026, 11, 30), 1)
    assert summary.trailing_gap(friday, tuesday).missing_candles == 3
    # Hourly: the last regular hour of Friday's early close (12:00 New York = 17:00 UTC), asked on Saturday.
    early = SeriesCoverage(1, 60, "USD", "finnhub", utc(2026, 11, 2), utc(2026, 11, 27, 17), 100)
    assert summary.trailing_gap(early, utc(2026, 11, 28, 9), calendar="XNYS") is None
    gap = summary.trailing_gap(early, utc(2026, 11, 30, 16, 5), calendar="XNYS")
    assert (gap.start, gap.end, gap.missing_candles) == (utc(2026, 11, 30, 14), utc(2026, 11, 30, 15), 2)


def test_crypto_keeps_the_clock(client, questdb, fake_massive):
    create("BTC", "CRYPTO")
    backfill("--ticker", "BTC", "--source", "massive", "--start", "2026-11-01", "--end", "2026-11-14")
    _, body = get(client, "/api/gaps", ticker="BTC", interval="1440")
    assert body["calendar"] == "24/7" and body["gaps"] == [] and open_gaps(client, "BTC") == {0}
    assert body["trailing"]["start"] == "2026-11-15T00:00:00Z"  # every day after the last candle is expected
