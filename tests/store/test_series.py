"""The series filter and the stored-times and stored-candles reads, on the real QuestDB."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.store import client
from feefifofunds.store.series import SeriesKey, series_where, stored_candles, stored_times, stored_times_by_asset

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 1, 1, tzinfo=UTC)
KEY = SeriesKey(1, 60, "USD", "kraken")


def hourly(n: int) -> pl.DataFrame:
    price = np.linspace(1.0, 2.0, n)
    return pl.DataFrame({"time": int(T0.timestamp()) + 3600 * np.arange(n, dtype=np.int64), "open": price,
                         "high": price, "low": price, "close": price, "volume": np.ones(n),
                         "trade_count": np.arange(n, dtype=np.int64)})


@pytest.fixture
def stored(questdb):
    with PriceWriter() as writer:
        writer.add(hourly(5), KEY)
        writer.add(hourly(3), SeriesKey(1, 60, "EUR", "kraken"))
        writer.add(hourly(2), SeriesKey(2, 60, "USD", "kraken"))
        writer.flush()
        writer.wait_visible()
    return questdb


def test_the_filter_matches_the_columns_given_and_sends_naive_utc():
    where, params = series_where(1, 60, "USD", None, start=T0, last=T0 + timedelta(hours=1))
    assert where == "asset_id = %s AND interval_minutes = %s AND quote_currency = %s AND time >= %s AND time <= %s"
    assert params == [1, 60, "USD", T0.replace(tzinfo=None), datetime(2024, 1, 1, 1)]


def test_bounds_start_and_last_are_inclusive_end_is_not(stored):
    hour = timedelta(hours=1)
    assert stored_times(KEY, start=T0 + hour, end=T0 + 3 * hour) == {T0 + hour, T0 + 2 * hour}
    assert stored_times(KEY, start=T0 + hour, last=T0 + 3 * hour) == {T0 + hour, T0 + 2 * hour, T0 + 3 * hour}
    first = int(T0.timestamp())
    candles = stored_candles(KEY, first + 3600, first + 2 * 3600)
    assert candles.get_column("time").to_list() == [first + 3600, first + 7200]
    assert candles.equals(hourly(5).slice(1, 2))


def test_many_assets_at_once_each_in_its_quote(stored):
    found = stored_times_by_asset({1: "EUR", 2: "USD", 3: "USD"}, 60, "kraken", start=T0, end=T0 + timedelta(days=1))
    assert {asset: len(times) for asset, times in found.items()} == {1: 3, 2: 2}


def test_a_closed_connection_is_replaced(questdb):
    assert client.query("SELECT 1")[0][0] == 1
    conn = client._readers.conns[client.get_config()]
    assert client.query("SELECT 2")[0][0] == 2 and client._readers.conns[client.get_config()] is conn
    conn.close()
    assert client.query("SELECT 3")[0][0] == 3 and client._readers.conns[client.get_config()] is not conn


@pytest.mark.parametrize("via", ["export", "pgwire"])
def test_many_series_of_one_interval_in_one_read_each_in_its_own_quote(stored, via):
    from feefifofunds.store.series import stored_candles_of

    first = int(T0.timestamp())
    keys = [KEY, SeriesKey(2, 60, "USD", "kraken"), SeriesKey(3, 60, "USD", "kraken")]  # asset 1 in EUR: left out
    got = stored_candles_of(keys, first + 3600, first + 3 * 3600, via=via)
    assert got.columns == ["series", *hourly(1).columns]
    for i, key in enumerate(keys):
        alone = stored_candles(key, first + 3600, first + 3 * 3600)
        assert got.filter(pl.col("series") == i).drop("series").sort("time").equals(alone.sort("time"))
    assert got.height == 3 + 1
