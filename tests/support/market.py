"""A small market in QuestDB and the catalog: hourly and minute BTC candles with gaps, an EUR series, a stock
(``market``, a fixture: import it by name)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.models import Asset, ConfirmedEmptyRange
from feefifofunds.sources import CANDLE_SCHEMA
from feefifofunds.store import client, schema
from feefifofunds.store.series import SeriesKey

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_candles(start: datetime, interval: int, n: int, *, skip: set[int] = frozenset(), seed: int = 0,
                 base: float = 100.0) -> pl.DataFrame:
    """n candle slots from start, minus the indexes in skip; prices a random walk, some null trade counts."""
    rng = np.random.default_rng(seed)
    closes = base + np.cumsum(rng.normal(0, 1, n))
    opens = np.concatenate([[base], closes[:-1]])
    highs = np.maximum(opens, closes) + rng.uniform(0, 1, n)
    lows = np.minimum(opens, closes) - rng.uniform(0, 1, n)
    keep = [i for i in range(n) if i not in skip]
    return pl.DataFrame({
        "time": [start + timedelta(minutes=interval * i) for i in keep],
        "open": opens[keep], "high": highs[keep], "low": lows[keep], "close": closes[keep],
        "volume": rng.uniform(0.5, 20, n)[keep],
        "trade_count": rng.integers(1, 500, n)[keep],
        "vwap": ((opens + closes) / 2)[keep],
    }, schema=CANDLE_SCHEMA)


@dataclass
class Market:
    btc: Asset
    eth: Asset
    aapl: Asset
    btc_1h: pl.DataFrame
    btc_1m: pl.DataFrame
    btc_eur_1h: pl.DataFrame
    aapl_1d: pl.DataFrame


def load_market() -> Market:
    btc = Asset.objects.create(ticker="BTC", name="Bitcoin", category="CRYPTO", tier="TIER1")
    eth = Asset.objects.create(ticker="ETH", name="Ethereum", category="CRYPTO", tier="TIER1")
    aapl = Asset.objects.create(ticker="AAPL", name="Apple Inc.", category="STOCK", tier="")
    # 72 hourly slots: a real gap of 3 hours (10..12) and one hour (30) confirmed to have had no trades.
    btc_1h = make_candles(T0, 60, 72, skip={10, 11, 12, 30}, seed=1, base=42000)
    btc_1m = make_candles(T0, 1, 1440, skip={7, 8, 500}, seed=2, base=42000)
    btc_eur_1h = make_candles(T0, 60, 24, seed=3, base=39000)
    aapl_1d = make_candles(T0, 1440, 10, seed=4, base=180).with_columns(pl.lit(None, pl.Int64).alias("trade_count"))
    with PriceWriter("questdb") as writer:
        writer.add(btc_1h, SeriesKey(btc.pk, 60, "USD", "kraken"))
        writer.add(btc_1m, SeriesKey(btc.pk, 1, "USD", "kraken"))
        writer.add(btc_eur_1h, SeriesKey(btc.pk, 60, "EUR", "kraken"))
        writer.add(aapl_1d, SeriesKey(aapl.pk, 1440, "USD", "massive"))
    client.wait_for_wal(schema.TABLE)
    ConfirmedEmptyRange.objects.create(asset=btc, quote_currency="USD", interval_minutes=60,
                                       start=T0 + timedelta(hours=30), end=T0 + timedelta(hours=30))
    return Market(btc, eth, aapl, btc_1h, btc_1m, btc_eur_1h, aapl_1d)


@pytest.fixture
def market(questdb, db) -> Market:
    return load_market()
