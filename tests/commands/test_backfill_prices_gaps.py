"""backfill_prices --gaps against the real QuestDB and the Massive-shaped server answering in NYSE sessions:
only the missing sessions are fetched (one call per run of them; grouped: one call per missing session
date), and a session the provider has no bar for is reported as still missing, asked once per run."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from feefifofunds.models import Asset
from feefifofunds.store import client
from tests.support import api_fixtures as fx
from tests.support.sessions import DAILY_SPAN, LEFT_OUT, SESSIONS, nyse_massive

api_settings, fake_massive = fx.api_settings, fx.fake_massive  # fixtures

pytestmark = pytest.mark.django_db


def backfill(*args) -> str:
    out = StringIO()
    call_command("backfill_prices", *args, stdout=out)
    return out.getvalue()


def count(ticker="AAPL") -> int:
    asset = Asset.objects.get(ticker=ticker)
    return client.query("SELECT count() FROM assetprice WHERE asset_id = %s", (asset.pk,))[0][0]


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def stocks(questdb, fake_massive):
    for ticker in ("AAPL", "MSFT"):
        Asset.objects.create(ticker=ticker, name=ticker, category="STOCK")
    nyse_massive(fake_massive)
    return fake_massive


def test_fetches_the_missing_session_only(stocks):
    backfill("--ticker", "AAPL", "--source", "massive", *DAILY_SPAN)
    assert count() == SESSIONS - 1
    stocks.left_out.clear()  # the provider has the session now
    stocks.requests.clear()
    out = backfill("--ticker", "AAPL", "--source", "massive", "--gaps", *DAILY_SPAN)
    assert stocks.paths() == [f"/v2/aggs/ticker/AAPL/range/1/day/{ms('2026-10-14')}/{ms('2026-10-15') - 1}"]
    assert count() == SESSIONS and "AAPL: 1 missing, 1 filled" in out and "1 created, 0 updated" in out
    stocks.requests.clear()
    out = backfill("--ticker", "AAPL", "--source", "massive", "--gaps", *DAILY_SPAN)
    assert stocks.requests == [] and "AAPL: nothing missing" in out


def test_a_session_the_provider_lacks_is_reported_not_retried(stocks):
    backfill("--ticker", "AAPL", "--source", "massive", *DAILY_SPAN)
    stocks.requests.clear()
    out = backfill("--ticker", "AAPL", "--source", "massive", "--gaps", *DAILY_SPAN)
    assert len(stocks.requests) == 1 and count() == SESSIONS - 1
    assert f"AAPL: 1 missing, 0 filled; still missing (massive has no candle): {LEFT_OUT}" in out


def test_grouped_asks_one_call_per_missing_session_date(stocks):
    stocks.left_out.add(("MSFT", LEFT_OUT.replace(day=20)))
    backfill("--all", "--category", "STOCK", "--source", "massive", *DAILY_SPAN)
    assert (count("AAPL"), count("MSFT")) == (SESSIONS - 1, SESSIONS - 1)
    stocks.left_out.clear()
    stocks.requests.clear()
    out = backfill("--all", "--grouped", "--category", "STOCK", "--source", "massive", "--gaps", *DAILY_SPAN)
    assert sorted(stocks.paths()) == ["/v2/aggs/grouped/locale/us/market/stocks/2026-10-14",
                                      "/v2/aggs/grouped/locale/us/market/stocks/2026-10-20"]
    assert (count("AAPL"), count("MSFT")) == (SESSIONS, SESSIONS)
    assert "AAPL: 1 missing, 1 filled" in out and "MSFT: 1 missing, 1 filled" in out
    assert "2 created, 0 updated" in out  # each call kept for the asset that missed the day


def test_crypto_gaps_are_every_missing_day(questdb, fake_massive):
    Asset.objects.create(ticker="BTC", name="Bitcoin", category="CRYPTO")
    backfill("--ticker", "BTC", "--source", "massive", "--start", "2024-01-01", "--end", "2024-01-03")
    backfill("--ticker", "BTC", "--source", "massive", "--start", "2024-01-08", "--end", "2024-01-10")
    fake_massive.requests.clear()
    out = backfill("--ticker", "BTC", "--source", "massive", "--gaps", "--start", "2024-01-01", "--end", "2024-01-10")
    assert fake_massive.paths() == [f"/v2/aggs/ticker/X:BTCUSD/range/1/day/{ms('2024-01-04')}/{ms('2024-01-08') - 1}"]
    assert count("BTC") == 10 and "BTC: 4 missing, 4 filled" in out
