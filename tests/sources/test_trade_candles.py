"""Candles built from trades equal the fake Kraken's OHLC, built by the fake's own code from the same trades."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import polars as pl
import pytest

from feefifofunds.sources.trade_candles import CandleBuilder, candles_from_trades, empty_starts
from tests.support.fake_kraken_trades import FakeKrakenTrades, make_trades

DAY = 1_700_006_400  # 2023-11-15 00:00 UTC, a multiple of one day
INTERVALS = (1, 5, 15, 30, 60, 240, 720, 1440)


def frame(trades: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame({"time": [t[2] for t in trades], "price": [float(t[0]) for t in trades],
                         "volume": [float(t[1]) for t in trades]})


def assert_equal_to_fake(got: pl.DataFrame, expected: dict[int, tuple]) -> None:
    assert got.get_column("time").to_list() == sorted(expected)
    for row in got.iter_rows(named=True):
        o, h, lo, c, vwap, vol, n = expected[row["time"]]
        assert (row["open"], row["high"], row["low"], row["close"], row["trade_count"]) == (o, h, lo, c, n)
        assert row["volume"] == pytest.approx(vol, rel=1e-9)
        assert row["vwap"] == pytest.approx(vwap, rel=1e-9)


@pytest.fixture(scope="module")
def fake():
    api = FakeKrakenTrades(now=datetime.fromtimestamp(DAY + 2 * 86400, UTC))
    api.add_pair("XXBTZUSD", "XBTUSD", "XBT/USD")
    # A day of trades with a quiet hour (02:00-03:00) that no trade falls into.
    api.add_trades("XBTUSD", make_trades(DAY, DAY + 86400, quiet=(DAY + 7200, DAY + 10800)))
    api.start()
    yield api
    api.stop()


def test_one_pass_over_paged_trades_gives_every_interval(fake):
    """Paging through the endpoint with the ``last`` cursor, one builder, every interval equals the OHLC."""
    builder = CandleBuilder(INTERVALS)
    since, pages = str(DAY), 0
    with httpx.Client(base_url=fake.url) as http:
        while True:
            body = http.get("/0/public/Trades", params={"pair": "XBTUSD", "since": since, "count": 1000}).json()
            assert body["error"] == []
            rows = body["result"]["XXBTZUSD"]
            if not rows or body["result"]["last"] == since:
                break
            builder.add(pl.DataFrame({"time": [r[2] for r in rows], "price": [float(r[0]) for r in rows],
                                      "volume": [float(r[1]) for r in rows]}))
            since, pages = body["result"]["last"], pages + 1
    assert pages > 3  # several pages, so candles were carried across page boundaries
    builder.complete_until(DAY + 86400)
    for minutes in INTERVALS:
        assert_equal_to_fake(builder.take(minutes), fake.ohlc_from_trades("XBTUSD", minutes))


def test_candle_still_open_is_not_released(fake):
    """Trades known only up to 10:30: the 10:00-11:00 hour and the day are not finished, so not released."""
    trades = [t for t in fake.trades["XBTUSD"] if t[2] < DAY + 10 * 3600 + 1800]
    out = candles_from_trades(frame(trades), (60, 1440), complete_until=DAY + 10 * 3600 + 1800)
    assert out[60].get_column("time").max() == DAY + 9 * 3600
    assert out[1440].height == 0


def test_quiet_hour_is_proven_empty(fake):
    out = candles_from_trades(frame(fake.trades["XBTUSD"]), (60,), complete_until=DAY + 86400)
    assert empty_starts(DAY, DAY + 86400, out[60].get_column("time"), 60) == [DAY + 7200]


def test_trade_exactly_on_a_boundary_belongs_to_the_later_interval():
    trades = pl.DataFrame({"time": [DAY + 59.999, DAY + 60.0], "price": [1.0, 2.0], "volume": [1.0, 1.0]})
    out = candles_from_trades(trades, (1,), complete_until=DAY + 120)[1]
    assert out.get_column("time").to_list() == [DAY, DAY + 60]
    assert out.get_column("open").to_list() == [1.0, 2.0]


def test_out_of_order_batches_are_refused():
    builder = CandleBuilder((1,))
    builder.add(pl.DataFrame({"time": [DAY + 10.0], "price": [1.0], "volume": [1.0]}))
    with pytest.raises(ValueError, match="out of order"):
        builder.add(pl.DataFrame({"time": [DAY + 5.0], "price": [1.0], "volume": [1.0]}))
