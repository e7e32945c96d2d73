"""The Trades source against a fake Kraken that pages like the real one and builds its OHLC with its own code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from feefifofunds.sources.kraken_rest import KrakenAPIError, KrakenRestSource
from feefifofunds.sources.kraken_trades import SETTLE_SECONDS, KrakenTradesSource, TradesCursor, parse_trades
from feefifofunds.sources.trade_candles import empty_starts
from tests.support.fake_kraken_trades import FakeKrakenTrades, make_trades

DAY = 1_700_006_400  # 2023-11-15 00:00 UTC
INTERVALS = (1, 5, 15, 30, 60, 240, 720, 1440)
START, END = datetime.fromtimestamp(DAY, UTC), datetime.fromtimestamp(DAY + 86400, UTC)


@pytest.fixture(scope="module")
def fake():
    api = FakeKrakenTrades(now=datetime.fromtimestamp(DAY + 3 * 86400, UTC))
    api.add_pair("XXBTZUSD", "XBTUSD", "XBT/USD")
    # The day itself, a quiet hour inside it, and trades on either side of it.
    api.add_trades("XBTUSD", make_trades(DAY - 3600, DAY + 86400 + 3600, quiet=(DAY + 7200, DAY + 10800)))
    api.start()
    yield api
    api.stop()


def trades_source(fake, clock=None) -> KrakenTradesSource:
    rest = KrakenRestSource(fake.url, rate_per_second=0, backoff_seconds=0.01, timeout=2.0, max_attempts=4)
    return KrakenTradesSource(rest, clock=clock or (lambda: fake.now.timestamp()))


def seconds(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col("time").dt.epoch("s"))


def assert_matches_fake(fake, minutes: int, got: pl.DataFrame, lo: int, hi: int) -> None:
    expected = {t: c for t, c in fake.ohlc_from_trades("XBTUSD", minutes).items() if lo <= t and t + minutes * 60 <= hi}
    got = seconds(got)
    assert got.get_column("time").to_list() == sorted(expected)
    for row in got.iter_rows(named=True):
        o, h, lo_, c, vwap, vol, n = expected[row["time"]]
        assert (row["open"], row["high"], row["low"], row["close"], row["trade_count"]) == (o, h, lo_, c, n)
        assert row["volume"] == pytest.approx(vol, rel=1e-9) and row["vwap"] == pytest.approx(vwap, rel=1e-9)


def test_one_walk_gives_every_interval_equal_to_kraken_ohlc(fake):
    src = trades_source(fake)
    pair = src.rest.pair_for("BTC", "USD")
    before = len(fake.calls("Trades"))
    chunk = src.walk(pair, INTERVALS, START, END, max_requests=100)
    assert chunk.cursor is None  # done: a trade after the end was seen
    assert chunk.requests == len(fake.calls("Trades")) - before > 3
    for minutes in INTERVALS:
        assert_matches_fake(fake, minutes, chunk.candles[minutes], DAY, DAY + 86400)
        assert chunk.covered[minutes] == (DAY, DAY + 86400)
    hourly = seconds(chunk.candles[60]).get_column("time")
    assert empty_starts(DAY, DAY + 86400, hourly, 60) == [DAY + 7200]


def test_walk_cut_by_budget_resumes_and_downloads_nothing_twice(fake):
    src = trades_source(fake)
    pair = src.rest.pair_for("BTC", "USD")
    before = len(fake.calls("Trades"))
    collected: dict[int, list[pl.DataFrame]] = {m: [] for m in INTERVALS}
    reach = {m: DAY for m in INTERVALS}
    cursor, chunks = None, 0
    while True:
        chunk = src.walk(pair, INTERVALS, START, END, cursor=cursor, max_requests=1)
        chunks += 1
        for minutes, df in chunk.candles.items():
            collected[minutes].append(df)
            lo, until = chunk.covered[minutes]
            # Each stretch covers on from where the last one ended, and releases exactly the candles it covers:
            # a partly read interval is never given out.
            assert lo == reach[minutes] and until >= lo
            reach[minutes] = until
            assert df.is_empty() or (seconds(df).get_column("time").min() >= lo
                                     and seconds(df).get_column("time").max() + minutes * 60 <= until)
        if chunk.cursor is None:
            break
        cursor = TradesCursor.from_json(chunk.cursor.to_json())  # saved and read back, as between runs
    calls = fake.calls("Trades")[before:]
    assert len(calls) == chunks > 3
    assert len({c["since"] for c in calls}) == len(calls)  # no page asked twice
    for minutes in INTERVALS:
        assert_matches_fake(fake, minutes, pl.concat(collected[minutes]), DAY, DAY + 86400)
        assert reach[minutes] == DAY + 86400


def test_walk_to_the_present_stops_at_the_last_finished_candle(fake):
    now = DAY + 86400 + 1800 + 20  # 00:30:20 the next day; trades exist until 01:00 but are not out yet
    fake.now = datetime.fromtimestamp(now, UTC)
    try:
        src = trades_source(fake)
        pair = src.rest.pair_for("BTC", "USD")
        chunk = src.walk(pair, (1, 60), START, datetime.fromtimestamp(now + 3600, UTC), max_requests=100)
    finally:
        fake.now = datetime.fromtimestamp(DAY + 3 * 86400, UTC)
    assert chunk.cursor is None
    minutes = seconds(chunk.candles[1]).get_column("time")
    assert minutes.max() + 60 <= now - SETTLE_SECONDS  # the unfinished minute is not released
    assert minutes.max() == now - 20 - 60
    assert chunk.covered[60] == (DAY, DAY + 86400)  # the hour 00:00-01:00 has not finished


def test_errors_in_kraken_error_array(fake):
    src = trades_source(fake)
    pair = src.rest.pair_for("BTC", "USD")
    fake.script_trades("EAPI:Rate limit exceeded", 502)
    chunk = src.walk(pair, (60,), START, START + timedelta(hours=1), max_requests=5)
    assert chunk.candles[60].height == 1
    fake.script_trades("EGeneral:Invalid arguments")
    with pytest.raises(KrakenAPIError, match="Invalid arguments"):
        src.walk(pair, (60,), START, END, max_requests=1)


def test_invalid_trades_are_refused():
    with pytest.raises(KrakenAPIError, match="invalid trade"):
        parse_trades([["-1.0", "0.1", 1.0, "b", "m", "", 1]])
    with pytest.raises(KrakenAPIError, match="not in time order"):
        parse_trades([["1.0", "0.1", 2.0, "b", "m", "", 1], ["1.0", "0.1", 1.0, "b", "m", "", 2]])
    with pytest.raises(KrakenAPIError, match="malformed"):
        parse_trades([["x", "0.1", 2.0, "b", "m", "", 1]])
