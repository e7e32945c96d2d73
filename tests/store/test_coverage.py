"""store.coverage against the real QuestDB, through the JSON API that serves it: coverage per series, candles
resampled in QuestDB, the default quote currency, the cache per store version."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from feefifofunds.store import client as store
from feefifofunds.store import schema
from tests.support import market as small_market
from tests.support.json_api import all_pages, frame_of, get, iso
from tests.support.market import T0, make_candles

market = small_market.market  # a fixture
pytestmark = pytest.mark.django_db


def test_assets_with_coverage_and_gap_counts(client, market):
    status, body = get(client, "/api/assets")
    assert status == 200
    assert body["gap_detection"] is True
    by_ticker = {a["ticker"]: a for a in body["assets"]}
    assert set(by_ticker) == {"AAPL", "BTC", "ETH"}
    btc = by_ticker["BTC"]
    assert (btc["tier"], btc["category"], btc["name"]) == ("TIER1", "CRYPTO", "Bitcoin")
    cov = {(c["interval_minutes"], c["quote_currency"], c["source"]): c for c in btc["coverage"]}
    assert set(cov) == {(1, "USD", "kraken"), (60, "USD", "kraken"), (60, "EUR", "kraken")}
    hourly = cov[(60, "USD", "kraken")]
    assert hourly["first"] == iso(T0) and hourly["last"] == iso(T0 + timedelta(hours=71))
    assert hourly["candles"] == market.btc_1h.height == 68
    # The 3-hour hole is open; hour 30 is confirmed empty and does not count.
    assert hourly["open_gaps"] == 1
    assert cov[(1, "USD", "kraken")]["open_gaps"] == 2 and cov[(1, "USD", "kraken")]["candles"] == 1437
    assert cov[(60, "EUR", "kraken")]["open_gaps"] == 0
    assert by_ticker["ETH"]["coverage"] == []
    aapl = by_ticker["AAPL"]["coverage"]
    assert [(c["interval_minutes"], c["source"], c["candles"], c["open_gaps"]) for c in aapl] == [
        (1440, "massive", 10, 0)]


def expected_resample(frame: pl.DataFrame, target: int, start=None, end=None) -> pl.DataFrame:
    if start is not None:
        frame = frame.filter(pl.col("time") >= start)
    if end is not None:
        frame = frame.filter(pl.col("time") < end)
    return frame.sort("time").group_by_dynamic("time", every=f"{target}m", closed="left", label="left").agg(
        pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
        pl.col("volume").sum(), pl.col("trade_count").sum(),
    )


@pytest.mark.parametrize(("series", "interval", "target", "start", "end"), [
    ("btc_1m", 1, 15, None, None),
    ("btc_1m", 1, 60, T0 + timedelta(minutes=37), T0 + timedelta(hours=20, minutes=3)),
    ("btc_1m", 1, 240, None, None),
    ("btc_1h", 60, 240, None, None),
    ("btc_1h", 60, 1440, T0 + timedelta(hours=5), None),
])
def test_resampling_matches_polars(client, market, series, interval, target, start, end):
    params = {"ticker": "BTC", "interval": str(interval), "resample": str(target), "limit": "7"}
    if start:
        params["start"] = iso(start)
    if end:
        params["end"] = iso(end)
    rows, pages = all_pages(client, **params)
    expected = expected_resample(getattr(market, series), target, start, end)
    assert pages == -(-expected.height // 7)  # paginated in pages of 7 buckets
    got = frame_of(rows)
    assert got.columns == ["time", "open", "high", "low", "close", "volume", "trade_count"]
    assert got["time"].to_list() == expected["time"].to_list()
    for col in ("open", "high", "low", "close", "volume"):
        assert got[col].to_list() == pytest.approx(expected[col].to_list(), rel=1e-9), col
    assert got["trade_count"].to_list() == expected["trade_count"].to_list()


def test_quote_defaults_to_the_series_that_exists(client, market):
    """No quote given: the asset's own (USD) when stored, else the quote currency that has candles."""
    from feefifofunds.ingestion.writer import PriceWriter
    from feefifofunds.models import Asset
    from feefifofunds.store.series import SeriesKey

    xrp = Asset.objects.create(ticker="XRP", name="Ripple", category="CRYPTO", tier="TIER2")
    with PriceWriter("questdb") as writer:
        writer.add(make_candles(T0, 60, 5, seed=9, base=0.5), SeriesKey(xrp.pk, 60, "EUR", "kraken"))
        writer.flush()
    store.wait_for_wal(schema.TABLE)
    status, body = get(client, "/api/candles", ticker="XRP", interval="60")
    assert status == 200 and body["quote_currency"] == "EUR" and body["count"] == 5
    status, body = get(client, "/api/gaps", ticker="XRP", interval="60")
    assert status == 200 and body["quote_currency"] == "EUR" and body["source"] == "kraken"
    assert get(client, "/api/candles", ticker="BTC", interval="60")[1]["quote_currency"] == "USD"


def test_cache_follows_writes(client, market):
    """Coverage is cached per store version: a write (as by a cron job) is seen on the next request."""
    from feefifofunds.ingestion.writer import PriceWriter
    from feefifofunds.store.series import SeriesKey

    before = {c["interval_minutes"]: c for c in get(client, "/api/assets/ETH")[1]["coverage"]}
    assert before == {}
    with PriceWriter("questdb") as writer:
        writer.add(make_candles(T0, 1440, 3, seed=5, base=2000), SeriesKey(market.eth.pk, 1440, "USD", "kraken"))
        writer.flush()
    store.wait_for_wal(schema.TABLE)
    after = get(client, "/api/assets/ETH")[1]["coverage"]
    assert [(c["interval_minutes"], c["candles"]) for c in after] == [(1440, 3)]
