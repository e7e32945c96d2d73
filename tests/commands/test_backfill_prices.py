import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from feefifofunds.ingestion import api_loader
from feefifofunds.models import Asset
from feefifofunds.store import client
from tests.support import api_fixtures as fx
from tests.support.api_fixtures import subprocess_env
from tests.support.kept import assert_kept_matches_scan

api_settings, fake_finnhub, fake_massive = fx.api_settings, fx.fake_finnhub, fx.fake_massive  # fixtures

pytestmark = pytest.mark.django_db

JAN = ("--start", "2024-01-01", "--end", "2024-01-14")  # 2 weeks: 10 weekdays, 4 weekend days


def stored(source="massive"):
    """{ticker: number of candles}"""
    ids = dict(Asset.objects.values_list("pk", "ticker"))
    rows = client.query("SELECT asset_id, count() FROM assetprice WHERE source = %s GROUP BY asset_id", (source,))
    return {ids[a]: n for a, n in rows}


def backfill(*args):
    out = StringIO()
    call_command("backfill_prices", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def catalog():
    for ticker, category in (("AAPL", "STOCK"), ("MSFT", "STOCK"), ("BTC", "CRYPTO"), ("ETH", "CRYPTO"),
                             ("EUR", "CURRENCY")):
        Asset.objects.create(ticker=ticker, name=ticker, category=category)
    Asset.objects.create(ticker="OLD", name="Delisted", category="STOCK", active=False)


def test_single_asset_date_range(questdb, fake_massive, catalog):
    out = backfill("--ticker", "AAPL", "--source", "massive", *JAN)
    assert stored() == {"AAPL": 10}
    times = client.query("SELECT time FROM assetprice ORDER BY time")
    assert times[0][0] == datetime(2024, 1, 1) and times[-1][0] == datetime(2024, 1, 12)
    assert "10 created, 0 updated" in out
    assert fake_massive.paths() == ["/v2/aggs/ticker/AAPL/range/1/day/1704067200000/1705276799999"]


def test_all_active_assets(questdb, fake_massive, catalog):
    out = backfill("--all", "--source", "massive", *JAN)
    assert stored() == {"AAPL": 10, "MSFT": 10, "BTC": 14, "ETH": 14, "EUR": 10}  # OLD is inactive
    assert "OLD" not in out and "58 created, 0 updated" in out
    assert_kept_matches_scan()
    assert len(fake_massive.requests) == 5
    assert {p.split("/")[4] for p in fake_massive.paths()} == {"AAPL", "MSFT", "X:BTCUSD", "X:ETHUSD", "C:EURUSD"}


def test_days(questdb, fake_massive, catalog):
    backfill("--ticker", "BTC", "--source", "massive", "--days", "30")
    assert stored() == {"BTC": 30}  # today's candle is not finished yet
    (newest,) = client.query("SELECT max(time) FROM assetprice")[0]
    assert newest.date() == datetime.now(UTC).date() - timedelta(days=1)


def test_category(questdb, fake_massive, catalog):
    backfill("--all", "--category", "crypto", "--source", "massive", *JAN)
    assert stored() == {"BTC": 14, "ETH": 14}


def test_pagination(questdb, fake_massive, catalog):
    fake_massive.page_size = 4
    out = backfill("--ticker", "BTC", "--source", "massive", *JAN)
    assert stored() == {"BTC": 14} and len(fake_massive.requests) == 4 and "14 created" in out


def test_created_vs_updated_on_overlapping_rerun(questdb, fake_massive, catalog):
    backfill("--ticker", "BTC", "--source", "massive", "--start", "2024-01-01", "--end", "2024-01-10")
    out = backfill("--ticker", "BTC", "--source", "massive", "--start", "2024-01-06", "--end", "2024-01-14")
    assert "4 created, 5 updated" in out
    assert stored() == {"BTC": 14}


def test_dry_run_writes_nothing(questdb, fake_massive, catalog):
    out = backfill("--all", "--source", "massive", "--dry-run", *JAN)
    assert stored() == {}
    assert "DRY RUN" in out and "58 would be created" in out and "AAPL: 10 candles would be written" in out


def test_dry_run_shows_updates(questdb, fake_massive, catalog):
    backfill("--ticker", "BTC", "--source", "massive", "--start", "2024-01-01", "--end", "2024-01-03")
    out = backfill("--ticker", "BTC", "--source", "massive", "--dry-run",
                   "--start", "2024-01-02", "--end", "2024-01-05")
    assert "2 would be created, 2 would be updated" in out and "update" in out
    assert stored() == {"BTC": 3}


def test_grouped_one_call_per_day_filtered_to_the_catalog(questdb, fake_massive, catalog):
    out = backfill("--all", "--grouped", "--source", "massive", *JAN)
    # stocks (AAPL, MSFT), crypto (BTC, ETH) and fx (EUR): one call per market per day
    paths = fake_massive.paths()
    assert len(paths) == 14 * 3 and len(set(paths)) == len(paths)
    assert sum("/market/stocks/" in p for p in paths) == 14
    assert stored() == {"AAPL": 10, "MSFT": 10, "BTC": 14, "ETH": 14, "EUR": 10}  # weekends: no stock/fx bars
    # The fake also serves GLD, ZZZZ, X:DOGEUSD, C:GBPUSD: not in the active catalog, not stored
    assert client.query("SELECT count() FROM assetprice")[0][0] == 58
    assert "58 created, 0 updated" in out and "days" in out


def test_grouped_category_and_weekend(questdb, fake_massive, catalog):
    backfill("--all", "--grouped", "--category", "STOCK", "--source", "massive",
             "--start", "2024-01-06", "--end", "2024-01-08")
    assert stored() == {"AAPL": 1, "MSFT": 1}  # Saturday and Sunday empty, Monday stored
    assert all("/market/stocks/" in p for p in fake_massive.paths()) and len(fake_massive.requests) == 3


def test_grouped_rerun_counts_updates(questdb, fake_massive, catalog):
    backfill("--all", "--grouped", "--category", "CRYPTO", "--source", "massive", *JAN)
    out = backfill("--all", "--grouped", "--category", "CRYPTO", "--source", "massive", *JAN)
    assert "0 created, 28 updated" in out and stored() == {"BTC": 14, "ETH": 14}


def test_grouped_dry_run(questdb, fake_massive, catalog):
    out = backfill("--all", "--grouped", "--source", "massive", "--dry-run", *JAN)
    assert stored() == {} and "58 would be created" in out


def test_grouped_failed_day_does_not_stop_the_others(questdb, fake_massive, catalog):
    fake_massive.fail("/market/crypto/2024-01-03", 500, b"", times=-1)
    with pytest.raises(CommandError, match="1 failed: 2024-01-03 crypto"):
        backfill("--all", "--grouped", "--category", "CRYPTO", "--source", "massive", *JAN)
    assert stored() == {"BTC": 13, "ETH": 13}


@pytest.mark.parametrize("args, message", [
    (("--all", "--grouped", "--source", "finnhub"), "grouped daily endpoint \\(massive\\), not finnhub"),
    (("--ticker", "AAPL", "--grouped", "--source", "massive"), "requires --all"),
    (("--ticker", "AAPL", "--category", "STOCK", "--source", "massive"), "with --all only"),
    (("--ticker", "AAPL", "--source", "massive"), "give --days or --start"),
    (("--ticker", "AAPL", "--source", "massive", "--days", "3", "--start", "2024-01-01"), "not both"),
    (("--ticker", "AAPL", "--source", "massive", "--start", "2024-02-01", "--end", "2024-01-01"), "after end"),
])
def test_argument_errors(questdb, fake_massive, catalog, args, message):
    with pytest.raises(CommandError, match=message):
        backfill(*args, *(("--days", "3") if "--days" not in args and "--start" not in args
                          and message != "give --days or --start" else ()))
    assert fake_massive.requests == []


def test_missing_key(questdb, api_settings, catalog):
    with pytest.raises(CommandError, match="FINNHUB_API_KEY"):
        backfill("--all", "--source", "finnhub", "--days", "3")


def test_failed_asset_does_not_stop_the_others(questdb, fake_massive, catalog):
    fake_massive.fail("/MSFT/", 403, {"status": "NOT_AUTHORIZED", "message": "You are not entitled to this data."},
                      times=-1)
    out = StringIO()
    with pytest.raises(CommandError, match="1 failed: MSFT"):
        call_command("backfill_prices", "--all", "--source", "massive", *JAN, stdout=out)
    assert stored() == {"AAPL": 10, "BTC": 14, "ETH": 14, "EUR": 10}
    text = out.getvalue()
    assert "Failed (1):" in text and "MSFT: Massive HTTP 403" in text and "plan does not include" in text


def test_401_stops_the_run(questdb, fake_massive, api_settings, catalog):
    api_settings.MASSIVE_API_KEY = "wrong"
    with pytest.raises(CommandError, match="401.*MASSIVE_API_KEY"):
        backfill("--all", "--source", "massive", *JAN)
    assert len(fake_massive.requests) == 1 and stored() == {}


def test_429_then_success(questdb, fake_massive, catalog):
    fake_massive.fail("/X:BTCUSD/", 429, {"status": "ERROR", "error": "You've exceeded the maximum requests"})
    backfill("--all", "--category", "CRYPTO", "--source", "massive", *JAN)
    assert stored() == {"BTC": 14, "ETH": 14} and len(fake_massive.requests) == 3


def test_finnhub_no_data_and_premium_stocks(questdb, fake_finnhub, catalog):
    fake_finnhub.no_data.add("BINANCE:ETHUSDT")
    fake_finnhub.premium_stock = True
    out = StringIO()
    with pytest.raises(CommandError, match="2 failed: AAPL, MSFT"):
        call_command("backfill_prices", "--all", "--source", "finnhub", *JAN, stdout=out)
    assert stored("finnhub") == {"BTC": 14, "EUR": 10}
    text = out.getvalue()
    assert "no data" in text and "premium" in text


def test_rate_limit_is_shared_across_the_run(questdb, fake_massive, api_settings, catalog, monkeypatch):
    api_settings.MASSIVE_REQUESTS_PER_MINUTE = 2
    waits, now = [], [1000.0]

    def sleep(seconds):
        waits.append(seconds)
        now[0] += seconds

    monkeypatch.setattr("feefifofunds.sources.http._sleep", sleep)
    monkeypatch.setattr("feefifofunds.sources.http._clock", lambda: now[0])
    backfill("--all", "--category", "CRYPTO", "--source", "massive", *JAN)  # 2 requests: no wait
    assert waits == []
    backfill("--all", "--category", "STOCK", "--source", "massive", *JAN)  # a new run has its own limiter
    assert waits == []
    backfill("--all", "--source", "massive", *JAN)  # 5 requests at 2/minute: waits before the 3rd and 5th
    assert len(waits) == 2 and all(0 < w <= 60 for w in waits)


@pytest.mark.django_db(transaction=True)
def test_real_process_exit_codes(questdb, fake_massive, command_env, catalog):
    env = subprocess_env(command_env, fake_massive)

    def run(*args, **extra):
        return subprocess.run([sys.executable, "manage.py", "backfill_prices", *args],
                              env={**env, **extra}, capture_output=True, text=True, timeout=120)

    ok = run("--all", "--grouped", "--category", "CRYPTO", "--source", "massive", *JAN)
    assert ok.returncode == 0, ok.stderr
    assert "28 created" in ok.stdout and "100%" in ok.stdout and "ETA" in ok.stdout
    fake_massive.fail("X:ETHUSD", 403, {"status": "NOT_AUTHORIZED", "message": "no"}, times=-1)
    failed = run("--all", "--category", "CRYPTO", "--source", "massive", *JAN)
    assert failed.returncode == 1 and "1 failed: ETH" in failed.stderr and "Traceback" not in failed.stderr
    nokey = run("--all", "--source", "massive", "--days", "2", MASSIVE_API_KEY="")
    assert nokey.returncode == 1 and "MASSIVE_API_KEY" in nokey.stderr


def test_grouped_days_skips_unfinished():
    now = datetime(2024, 1, 3, 12, tzinfo=UTC)
    days = api_loader.grouped_days(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC), now)
    assert days == [date(2024, 1, 1), date(2024, 1, 2)]
