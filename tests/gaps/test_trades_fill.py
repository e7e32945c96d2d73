"""Gaps filled from trades on real QuestDB: one walk for every interval, missing times only, empty intervals
confirmed, budgets respected, an interrupted walk resumed without downloading anything twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feefifofunds.gaps.detection import Gap, detect_gaps, split_confirmed_empty
from feefifofunds.gaps.trades_fill import (
    Budget,
    estimate_trades,
    fill_span,
    forget_stale_progress,
    plan_spans,
    requests_for,
)
from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.models import TradesProgress
from feefifofunds.sources.kraken_rest import KrakenRestSource
from feefifofunds.sources.kraken_trades import KrakenTradesSource
from feefifofunds.store import client
from tests.support.fake_kraken_trades import FakeKrakenTrades, make_trades
from tests.support.kraken_gaps import grid, make_asset, stored, write_series

pytestmark = pytest.mark.django_db

DAY0 = datetime(2023, 11, 15, tzinfo=UTC)
D = int(DAY0.timestamp())
MIN, HOUR = timedelta(minutes=1), timedelta(hours=1)


@pytest.fixture
def fake():
    api = FakeKrakenTrades(now=DAY0 + timedelta(days=400))
    api.add_pair("XXBTZUSD", "XBTUSD", "XBT/USD")
    api.add_trades("XBTUSD", make_trades(D - 3600, D + 86400 + 3600, quiet=(D + 7200, D + 10800), mean_gap=4))
    api.start()
    yield api
    api.stop()


@pytest.fixture
def store(questdb):
    """BTC 1-minute and hourly candles for the day, except 01:00-05:00 in both; the hourly 05:00 candle has
    values of its own (it must survive)."""
    btc = make_asset("BTC")
    write_series(btc.pk, 1, grid(DAY0, 1440, 1, skip=set(range(60, 300))))
    write_series(btc.pk, 60, grid(DAY0, 24, 60, skip={1, 2, 3, 4}))
    return btc


def source(fake) -> KrakenTradesSource:
    return KrakenTradesSource(KrakenRestSource(fake.url, rate_per_second=0, backoff_seconds=0.01, timeout=2.0),
                              clock=lambda: fake.now.timestamp())


def run_fill(fake, budget: Budget) -> list:
    gaps = detect_gaps("questdb")
    real, _ = split_confirmed_empty(gaps)
    results = []
    with PriceWriter("questdb") as writer:
        for span in plan_spans(real):
            with source(fake) as src:
                results.append(fill_span(span, "BTC", src, writer, budget, alias="questdb"))
    client.wait_for_wal("assetprice")
    return results


def test_one_walk_fills_both_intervals_and_confirms_the_quiet_hour(store, fake):
    gaps = detect_gaps("questdb")
    assert [(g.interval_minutes, g.missing_candles) for g in gaps] == [(1, 240), (60, 4)]
    spans = plan_spans(gaps)
    assert len(spans) == 1 and spans[0].intervals == (1, 60)  # one download for both
    hour5 = stored(store.pk, 60)[D + 5 * 3600]

    before = len(fake.calls("Trades"))
    [result] = run_fill(fake, Budget(1000, 30))
    # Every request counts against the budget: the pair lookup (AssetPairs) and each page of trades.
    assert result.done and not result.error and result.requests == len(fake.calls("Trades")) - before + 1

    expected_1 = fake.ohlc_from_trades("XBTUSD", 1)
    got_1 = stored(store.pk, 1)
    for t in range(D + 3600, D + 5 * 3600, 60):
        if D + 7200 <= t < D + 10800:
            assert t not in got_1  # nobody traded: no candle...
            continue
        o, h, lo, c, vwap, vol, n = expected_1[t]
        assert got_1[t][:4] == (o, h, lo, c) and got_1[t][5] == n
        assert got_1[t][4] == pytest.approx(vol, rel=1e-9) and got_1[t][6] == pytest.approx(vwap, rel=1e-9)
    assert stored(store.pk, 60)[D + 5 * 3600] == hour5  # the stored candle is never overwritten
    assert set(stored(store.pk, 60)) == {D + h * 3600 for h in range(24) if h != 2}
    # ...and the quiet hour is proven empty: no gap is left to report.
    real, empty = split_confirmed_empty(detect_gaps("questdb"))
    assert real == [] and sorted((g.interval_minutes, g.missing_candles) for g in empty) == [(1, 60), (60, 1)]
    assert not TradesProgress.objects.exists()


def test_budget_cuts_the_walk_and_the_next_run_resumes_without_downloading_twice(store, fake):
    full = len(make_trades(D + 3600, D + 5 * 3600, mean_gap=4))  # roughly the trades of the span
    assert full > 3000  # several pages
    before = len(fake.calls("Trades"))
    runs = 0
    while True:
        [result] = run_fill(fake, Budget(2, 30))  # the pair lookup and one page of trades per run
        runs += 1
        assert result.requests == 2 and not result.error
        if result.done:
            break
        assert result.stopped == "request budget reached (2 requests, --max-requests)"
        assert TradesProgress.objects.count() == 1
        assert runs < 20
    calls = fake.calls("Trades")[before:]
    assert len(calls) == runs > 2
    assert len({c["since"] for c in calls}) == len(calls)  # every page asked for once
    real, _ = split_confirmed_empty(detect_gaps("questdb"))
    assert real == []
    expected_1 = fake.ohlc_from_trades("XBTUSD", 1)
    got_1 = stored(store.pk, 1)
    assert all(got_1[t][:4] == expected_1[t][:4] for t in range(D + 3600, D + 5 * 3600, 60) if t in expected_1)


def test_time_budget_stops_before_any_request(store, fake):
    ticks = iter([0.0, 3600.0])
    budget = Budget(1000, 30, clock=lambda: next(ticks))
    [result] = run_fill(fake, budget)
    assert result.requests == 0 and result.stopped.startswith("time budget reached (30 minutes")


def test_estimate_from_coarser_candles(questdb):
    btc = make_asset("BTC")
    write_series(btc.pk, 1440, [DAY0])  # trade_count 3 per candle in these fixtures
    [span] = plan_spans([Gap(btc.pk, "USD", 1, DAY0, DAY0 + 719 * MIN, 720)])
    assert estimate_trades(span, alias="questdb") == 2  # half of a 3-trade day
    assert requests_for(2) == 2 and requests_for(None) is None


def test_estimate_from_the_candles_before_a_trailing_gap(questdb):
    btc = make_asset("BTC")
    write_series(btc.pk, 1, grid(DAY0, 100, 1))  # 3 trades a minute
    [span] = plan_spans([Gap(btc.pk, "USD", 1, DAY0 + 100 * MIN, DAY0 + 199 * MIN, 100, trailing=True)])
    assert estimate_trades(span, alias="questdb") == 300
    [unknown] = plan_spans([Gap(make_asset("ETH").pk, "USD", 1, DAY0, DAY0, 1)])
    assert estimate_trades(unknown, alias="questdb") is None


def test_stale_walks_are_those_no_span_continues(db):
    btc, eth = make_asset("BTC"), make_asset("ETH")

    def walk(asset, quote, start_h, reached_h):
        return TradesProgress.objects.create(asset=asset, quote_currency=quote, start=DAY0 + start_h * HOUR,
                                             reached=DAY0 + reached_h * HOUR, cursor="c").pk

    kept = {walk(btc, "USD", 0, 5), walk(btc, "USD", 10, 12), walk(eth, "USD", 3, 3)}
    stale = {walk(btc, "USD", 6, 9), walk(btc, "EUR", 0, 5), walk(eth, "USD", 4, 8), walk(eth, "USD", 0, 2)}
    spans = plan_spans([Gap(btc.pk, "USD", 60, DAY0 + h * HOUR, DAY0 + h * HOUR, 1) for h in (2, 12, 20)]
                       + [Gap(eth.pk, "USD", 60, DAY0 + 3 * HOUR, DAY0 + 3 * HOUR, 1)])
    assert forget_stale_progress(spans, [btc.pk, eth.pk]) == len(stale)
    assert set(TradesProgress.objects.values_list("pk", flat=True)) == kept
