"""backfill_kraken_gaps with Kraken's trade history, on real QuestDB, against a fake that pages like Kraken:
the trailing gap brought up to the last finished candle, an old gap rebuilt without touching stored candles,
budgets, and a killed run resumed without downloading anything twice."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from feefifofunds.gaps.detection import detect_gaps, split_confirmed_empty
from feefifofunds.models import TradesProgress
from tests.support import kraken_gaps
from tests.support.fake_kraken_trades import make_trades
from tests.support.kept import assert_kept_matches_scan
from tests.support.kraken_gaps import HOUR, NOW, grid, make_asset, run, stored, write_series

fake_kraken = kraken_gaps.fake_kraken  # a fixture
pytestmark = pytest.mark.django_db

T = int(NOW.timestamp())
LAST_HOUR = datetime(2025, 1, 20, 11, tzinfo=UTC)  # the last finished hour at NOW (12:34)


def assert_candle(got: tuple, expected: tuple) -> None:
    o, h, lo, c, vwap, vol, n = expected
    assert got[:4] == (o, h, lo, c) and got[5] == n
    assert got[4] == pytest.approx(vol, rel=1e-9) and got[6] == pytest.approx(vwap, rel=1e-9)


@pytest.fixture
def btc_hourly(questdb, fake_kraken):
    """BTC hourly up to 80 days ago: a trailing gap far beyond the OHLC window (30 days of hourly candles).
    Trades every ~10 minutes, with a quiet day in the gap."""
    btc = make_asset("BTC")
    last = datetime(2024, 11, 1, 23, tzinfo=UTC)
    write_series(btc.pk, 60, grid(last - 47 * HOUR, 48, 60))
    quiet = (int(datetime(2024, 12, 20, tzinfo=UTC).timestamp()), int(datetime(2024, 12, 21, tzinfo=UTC).timestamp()))
    fake_kraken.add_trades("XBTUSD", make_trades(int(last.timestamp()) - 86400, T + 7200, mean_gap=600, quiet=quiet))
    return btc


def test_trailing_gap_filled_up_to_the_last_finished_candle(btc_hourly, fake_kraken):
    out = run("--dry-run")
    assert "  → 2024-11-02 00:00 → 2025-01-20 11:00 (1,908 hours, 1,908 candles)" in out
    assert "    └─ from trades ✓" in out and "about 7 requests" in out  # 3 trades an hour before the gap
    out = run("--yes")
    assert "FILLED BTC (TIER1) 2024-11-02 00:00 → 2025-01-20 12:00 (60 min)" in out
    got = stored(btc_hourly.pk, 60)
    expected = fake_kraken.ohlc_from_trades("XBTUSD", 60)
    start, last = int(datetime(2024, 11, 2, tzinfo=UTC).timestamp()), int(LAST_HOUR.timestamp())
    for t in range(start, last + 1, 3600):
        if t in expected:
            assert_candle(got[t], expected[t])
        else:
            assert t not in got
    assert max(got) == last  # never the unfinished 12:00 candle, although trades of it exist
    # Every hour without a trade (the quiet day, and a few by chance) is proven empty: no gap is left.
    quiet = sum(1 for t in range(start, last + 1, 3600) if t not in expected)
    assert quiet >= 24
    real, empty = split_confirmed_empty(detect_gaps("questdb"))
    assert real == [] and sum(g.missing_candles for g in empty) == quiet
    again = run("--dry-run")
    assert "No trailing gaps: every series is current." in again


def test_old_gap_rebuilt_from_trades_without_touching_stored_candles(questdb, fake_kraken):
    sol = make_asset("SOL")
    days = grid(datetime(2021, 5, 1, tzinfo=UTC), 40, 1440, skip=set(range(10, 20)))
    write_series(sol.pk, 1440, days + grid(datetime(2025, 1, 1, tzinfo=UTC), 19, 1440), price=55.0)
    before = stored(sol.pk, 1440)
    lo = int(datetime(2021, 5, 9, tzinfo=UTC).timestamp())
    fake_kraken.add_trades("SOLUSD", make_trades(lo, lo + 14 * 86400, mean_gap=3600, price=40.0))
    out = run("--yes", "--asset", "SOL", "--interval", "1440")
    assert "FILLED SOL (TIER1) 2021-05-11 → 2021-05-21 (1440 min): 10 written, 0 confirmed empty" in out
    after = stored(sol.pk, 1440)
    assert {t: v for t, v in after.items() if t in before} == before  # stored candles untouched
    expected = fake_kraken.ohlc_from_trades("SOLUSD", 1440)
    for t in set(after) - set(before):
        assert_candle(after[t], expected[t])
    assert len(after) - len(before) == 10
    assert_kept_matches_scan()  # a trades fill keeps its spans


def test_request_budget_ends_the_run_and_the_next_one_goes_on(btc_hourly, fake_kraken):
    first = run("--yes", "--max-requests", "3")
    assert "TO RESUME BTC (TIER1)" in first and "request budget reached (3 requests, --max-requests)" in first
    assert "Requests made: 3 of 3 allowed." in first
    assert len(fake_kraken.requests) == 3 and TradesProgress.objects.count() == 1
    second = run("--yes", "--max-requests", "50")
    assert "FILLED BTC (TIER1)" in second and not TradesProgress.objects.exists()
    calls = fake_kraken.calls("Trades")
    assert len({c["since"] for c in calls}) == len(calls)  # no page asked for twice across the two runs
    real, _ = split_confirmed_empty(detect_gaps("questdb"))
    assert real == []


@pytest.mark.django_db(transaction=True)
def test_killed_run_resumes_where_it_stopped(btc_hourly, fake_kraken, command_env):
    env = command_env | {"KRAKEN_API_URL": fake_kraken.url, "KRAKEN_API_RATE_PER_SECOND": "4"}
    cmd = [sys.executable, "manage.py", "backfill_kraken_gaps", "--yes", "--asset", "BTC"]
    # The subprocess's clock is the real one: let the fake's "now" follow it so the walk is the same.
    fake_kraken.now = datetime.now(UTC)
    fake_kraken.add_trades("XBTUSD", make_trades(T + 7200, int(fake_kraken.now.timestamp()), mean_gap=3000, seed=9))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(fake_kraken.calls("Trades")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.communicate(timeout=30)
    first = len(fake_kraken.calls("Trades"))
    assert first >= 3 and TradesProgress.objects.count() == 1
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "FILLED BTC (TIER1)" in done.stdout and not TradesProgress.objects.exists()
    assert_kept_matches_scan()  # after a kill mid-walk and the rerun
    calls = [c["since"] for c in fake_kraken.calls("Trades")]
    # At most the page in flight at the kill is asked again.
    assert len(calls) - len(set(calls)) <= 1
    real, _ = split_confirmed_empty(detect_gaps("questdb"))
    assert real == [] or all(g.trailing is False and g.start > LAST_HOUR for g in real)
