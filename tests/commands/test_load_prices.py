import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from feefifofunds.models import Asset
from feefifofunds.store import client
from tests.support import api_fixtures as fx
from tests.support.api_fixtures import subprocess_env
from tests.support.fake_finnhub import KEY as FINNHUB_KEY
from tests.support.fake_massive import KEY as MASSIVE_KEY
from tests.support.kept import assert_kept_matches_scan

api_settings, fake_finnhub, fake_massive = fx.api_settings, fx.fake_finnhub, fx.fake_massive  # fixtures

pytestmark = pytest.mark.django_db


def rows(source, asset=None):
    sql = "SELECT time, open, close, trade_count, quote_currency FROM assetprice WHERE source = %s"
    params = [source]
    if asset is not None:
        sql += " AND asset_id = %s"
        params.append(asset.pk)
    return client.query(sql + " ORDER BY time", params)


def load(*args):
    out = StringIO()
    call_command("load_prices", *args, stdout=out)
    return out.getvalue()


def weekdays_back(days):
    today = datetime.now(UTC).date()
    return sum(1 for n in range(1, days + 1) if (today - timedelta(days=n)).weekday() < 5)


@pytest.fixture
def aapl():
    return Asset.objects.create(ticker="AAPL", name="Apple", category="STOCK")


@pytest.fixture
def btc():
    return Asset.objects.create(ticker="BTC", name="Bitcoin", category="CRYPTO")


def test_loads_days_of_a_stock_from_massive(questdb, fake_massive, aapl):
    out = load("--ticker", "aapl", "--source", "massive", "--days", "7")
    expected = weekdays_back(7)
    stored = rows("massive", aapl)
    assert len(stored) == expected
    assert all(r[0].hour == 0 for r in stored) and stored[0][3] is not None and stored[0][4] == "USD"
    assert f"{expected} created, 0 updated" in out
    assert len(fake_massive.requests) == 1
    assert_kept_matches_scan()  # an API load keeps its spans (a stock: judged by its sessions)


def test_rerun_counts_updates_not_creates(questdb, fake_massive, aapl):
    load("--ticker", "AAPL", "--source", "massive", "--days", "7")
    out = load("--ticker", "AAPL", "--source", "massive", "--days", "7")
    n = weekdays_back(7)
    assert f"0 created, {n} updated" in out
    assert len(rows("massive", aapl)) == n  # DEDUP: no duplicates


def test_finnhub_crypto_days(questdb, fake_finnhub, btc):
    out = load("--ticker", "BTC", "--source", "finnhub", "--days", "5")
    assert len(rows("finnhub", btc)) == 5 and "5 created, 0 updated" in out
    assert_kept_matches_scan()
    assert fake_finnhub.requests[0].query["symbol"] == "BINANCE:BTCUSDT"


def test_asset_must_exist(questdb, fake_massive):
    with pytest.raises(CommandError, match="asset NOPE does not exist.*create_asset"):
        load("--ticker", "NOPE", "--source", "massive")
    assert fake_massive.requests == []


def test_missing_key_before_any_work(questdb, fake_massive, api_settings, aapl):
    del api_settings.MASSIVE_API_KEY
    with pytest.raises(CommandError, match="MASSIVE_API_KEY"):
        load("--ticker", "AAPL", "--source", "massive")
    assert fake_massive.requests == []


def test_missing_key_checked_before_the_asset(questdb, api_settings):
    with pytest.raises(CommandError, match="FINNHUB_API_KEY"):
        load("--ticker", "NOPE", "--source", "finnhub")


def test_dry_run_writes_nothing(questdb, fake_massive, aapl):
    out = load("--ticker", "AAPL", "--source", "massive", "--days", "7", "--dry-run")
    assert rows("massive") == []
    assert "DRY RUN" in out and "would be written" in out and "would be created" in out and "new" in out


def test_401_fails_clearly(questdb, fake_massive, api_settings, aapl):
    api_settings.MASSIVE_API_KEY = "not-the-key"
    with pytest.raises(CommandError, match="401.*Unknown API Key.*MASSIVE_API_KEY"):
        load("--ticker", "AAPL", "--source", "massive")
    assert len(fake_massive.requests) == 1 and rows("massive") == []


def test_403_finnhub_stock_is_premium(questdb, fake_finnhub, aapl):
    fake_finnhub.premium_stock = True
    with pytest.raises(CommandError, match="403.*premium"):
        load("--ticker", "AAPL", "--source", "finnhub")


def test_429_then_success(questdb, fake_massive, aapl):
    fake_massive.fail("/AAPL/", 429, b"", times=2)
    out = load("--ticker", "AAPL", "--source", "massive", "--days", "10")
    assert len(rows("massive")) == weekdays_back(10) and len(fake_massive.requests) == 3
    assert "created" in out


def test_unsupported_interval(questdb, fake_finnhub, btc):
    with pytest.raises(CommandError, match="cannot give 240-minute"):
        load("--ticker", "BTC", "--source", "finnhub", "--interval", "240")


def test_help_lists_intervals_per_source():
    from feefifofunds.management.commands.load_prices import Command

    text = Command().create_parser("manage.py", "load_prices").format_help()
    assert "massive: 1, 5, 15, 30, 60, 240 or 1440" in " ".join(text.split())
    assert "finnhub: 1, 5, 15, 30, 60 or 1440" in " ".join(text.split())


@pytest.mark.django_db(transaction=True)
def test_no_key_anywhere_in_output_or_logs(questdb, fake_massive, fake_finnhub, command_env, api_settings,
                                           capsys, caplog):
    caplog.set_level(logging.DEBUG)
    Asset.objects.create(ticker="AAPL", name="Apple", category="STOCK")
    Asset.objects.create(ticker="BTC", name="Bitcoin", category="CRYPTO")
    fake_massive.fail("/AAPL/", 429, {"status": "ERROR", "error": "slow down"}, times=1)
    fake_finnhub.premium_stock = True
    captured = []
    captured.append(load("--ticker", "AAPL", "--source", "massive", "--days", "5"))
    captured.append(load("--ticker", "BTC", "--source", "finnhub", "--days", "5", "--dry-run"))
    for source, ticker in (("finnhub", "AAPL"), ("massive", "BTC")):
        with pytest.raises(CommandError) as err:
            api_settings.MASSIVE_API_KEY = "wrong" if source == "massive" else MASSIVE_KEY
            load("--ticker", ticker, "--source", source)
        captured.append(str(err.value))
    api_settings.MASSIVE_API_KEY = MASSIVE_KEY
    env = subprocess_env(command_env, fake_massive, fake_finnhub)
    env["LOG_LEVEL"] = "DEBUG"
    for args in (["load_prices", "--ticker", "AAPL", "--source", "finnhub"],
                 ["backfill_prices", "--all", "--source", "massive", "--days", "4"],
                 ["backfill_prices", "--all", "--source", "massive", "--days", "4", "--grouped", "--dry-run"],
                 ["load_prices", "--ticker", "BTC", "--source", "finnhub", "--days", "3"]):
        proc = subprocess.run([sys.executable, "manage.py", *args, "-v", "3"], env=env, capture_output=True,
                              text=True, timeout=120)
        captured += [proc.stdout, proc.stderr]
    assert "premium" in captured[-8] + captured[-7]  # the finnhub stock run failed and said why
    assert "created" in captured[-2]
    out, err = capsys.readouterr()
    everything = "\n".join([*captured, out, err, caplog.text, *(str(r.args) for r in caplog.records)])
    assert "HTTP Request" in caplog.text or "massive" in everything  # logging was captured at all
    for key in (MASSIVE_KEY, FINNHUB_KEY):
        assert key not in everything
        assert key.split("-")[1] not in everything  # not even part of it


def test_verbosity_0_prints_one_summary_line(questdb, fake_massive, btc):
    out = StringIO()
    call_command("load_prices", "--ticker", "BTC", "--source", "massive", "--days", "3", "--verbosity", "0",
                 stdout=out)
    assert out.getvalue() == "massive: 1 assets, 3 candles created, 0 updated (1 API requests)\n"
