"""Helpers for the gap tests: candle series written into and read from the real QuestDB, catalog assets, a
fixed now, ``backfill_kraken_gaps`` run at that now, and the fixtures (import them by name): ``fake_kraken``,
a fake Kraken wired into settings, and ``market``, a few series with gaps for the command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import polars as pl
import pytest
from django.core.management import call_command

from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.models import Asset
from feefifofunds.sources import CANDLE_SCHEMA
from feefifofunds.store import client
from feefifofunds.store.series import SeriesKey

from .fake_kraken_trades import FakeKrakenTrades

# A fixed "now": 2025-01-20 12:34 UTC (mid-candle for every interval up to 720).
NOW = datetime(2025, 1, 20, 12, 34, tzinfo=UTC)
TODAY = datetime(2025, 1, 20, tzinfo=UTC)
CURRENT_HOUR = datetime(2025, 1, 20, 12, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def candles(times: list[datetime], price: float = 100.0) -> pl.DataFrame:
    n = len(times)
    return pl.DataFrame(
        {"time": times, "open": [price] * n, "high": [price + 1] * n, "low": [price - 1] * n,
         "close": [price] * n, "volume": [1.0] * n, "trade_count": [3] * n, "vwap": [price] * n},
        schema=CANDLE_SCHEMA,
    )


def grid(start: datetime, count: int, interval: int, *, skip: set[int] = frozenset()) -> list[datetime]:
    """``count`` candle times from ``start``, leaving out the indexes in ``skip``."""
    step = timedelta(minutes=interval)
    return [start + i * step for i in range(count) if i not in skip]


def write_series(asset_id: int, interval: int, times: list[datetime], *, quote: str = "USD",
                 source: str = "kraken", alias: str = "questdb", table: str = "assetprice",
                 price: float = 100.0) -> None:
    with PriceWriter(alias, table=table) as writer:
        writer.write(candles(times, price), SeriesKey(asset_id, interval, quote, source))
    client.wait_for_wal(table, alias=alias)


def make_asset(ticker: str, tier: str = "TIER1", quote: str = "USD") -> Asset:
    return Asset.objects.create(ticker=ticker, name=ticker, category=Asset.Category.CRYPTO, tier=tier,
                                quote_currency=quote)


@pytest.fixture
def fake_kraken(settings):
    fake = FakeKrakenTrades(NOW).start()
    fake.add_pair("XXBTZUSD", "XBTUSD", "XBT/USD")
    fake.add_pair("XETHZUSD", "ETHUSD", "ETH/USD")
    fake.add_pair("XDGUSD", "XDGUSD", "XDG/USD")
    fake.add_pair("SOLUSD", "SOLUSD", "SOL/USD")
    settings.KRAKEN_API_URL = fake.url
    settings.KRAKEN_API_RATE_PER_SECOND = 0  # no spacing in tests
    settings.KRAKEN_API_BACKOFF_SECONDS = 0.01
    settings.KRAKEN_API_TIMEOUT_SECONDS = 2
    yield fake
    fake.stop()


def stored(asset_id: int, interval: int) -> dict[int, tuple]:
    rows = client.query("SELECT cast(time AS LONG) / 1000000, open, high, low, close, volume, trade_count, vwap "
                        "FROM assetprice WHERE asset_id = %s AND interval_minutes = %s ORDER BY time",
                        (asset_id, interval))
    return {int(r[0]): tuple(r[1:]) for r in rows}


def run(*args, stdin=None) -> str:
    out = StringIO()
    call_command("backfill_kraken_gaps", *args, stdout=out, now=NOW, stdin=stdin)
    return out.getvalue()


def days(first: datetime, last: datetime) -> list[datetime]:
    return [first + i * DAY for i in range((last - first) // DAY + 1)]


def hours(first: datetime, last: datetime) -> list[datetime]:
    return [first + i * HOUR for i in range((last - first) // HOUR + 1)]


def rows(asset_id=None) -> int:
    where = f" WHERE asset_id = {asset_id}" if asset_id else ""
    return client.query(f"SELECT count() FROM assetprice{where}")[0][0]


@pytest.fixture
def market(questdb, fake_kraken):
    """BTC daily with a recent gap, SOL daily with an old one, ETH hourly with a recent and an old gap."""
    btc, eth, sol = make_asset("BTC"), make_asset("ETH"), make_asset("SOL")
    btc_missing = days(datetime(2024, 11, 1, tzinfo=UTC), datetime(2024, 11, 3, tzinfo=UTC))
    write_series(btc.pk, 1440, [d for d in days(datetime(2024, 10, 1, tzinfo=UTC), TODAY - DAY)
                                if d not in btc_missing])
    sol_missing = days(datetime(2022, 3, 1, tzinfo=UTC), datetime(2022, 3, 15, tzinfo=UTC))
    write_series(sol.pk, 1440, [d for d in days(datetime(2022, 2, 20, tzinfo=UTC), datetime(2022, 3, 25, tzinfo=UTC))
                                if d not in sol_missing])
    eth_missing = set(hours(datetime(2025, 1, 10, 8, tzinfo=UTC), datetime(2025, 1, 10, 13, tzinfo=UTC)))
    eth_old_missing = set(hours(datetime(2024, 10, 5, tzinfo=UTC), datetime(2024, 10, 10, 23, tzinfo=UTC)))
    write_series(eth.pk, 60, [h for h in hours(datetime(2024, 10, 1, tzinfo=UTC), CURRENT_HOUR - HOUR)
                              if h not in eth_missing | eth_old_missing])
    # Kraken has every candle of the recent window.
    fake_kraken.add_candles("XBTUSD", 1440, days(TODAY - 800 * DAY, TODAY))
    fake_kraken.add_candles("ETHUSD", 60, hours(CURRENT_HOUR - 800 * HOUR, CURRENT_HOUR))
    return {"BTC": btc, "ETH": eth, "SOL": sol}
