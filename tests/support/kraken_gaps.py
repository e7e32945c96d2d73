"""Helpers for the gap tests: candle series written into the real QuestDB, catalog assets, a fixed now, and a
fake Kraken wired into settings (``fake_kraken``, a fixture: import it by name)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from feefifofunds.ingestion.writer import PriceWriter, SeriesKey
from feefifofunds.models import Asset
from feefifofunds.sources import CANDLE_SCHEMA
from feefifofunds.store import client

from .fake_kraken_trades import FakeKrakenTrades

# A fixed "now": 2025-01-20 12:34 UTC (mid-candle for every interval up to 720).
NOW = datetime(2025, 1, 20, 12, 34, tzinfo=UTC)


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
