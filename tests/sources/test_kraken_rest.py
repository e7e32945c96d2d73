from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from feefifofunds.sources import CANDLE_SCHEMA, CandleRequest, Source
from feefifofunds.sources.kraken_rest import (
    KrakenAPIError,
    KrakenRestSource,
    KrakenRetryableError,
    kraken_code,
    parse_ohlc_rows,
)
from feefifofunds.timeframes import floor_time
from tests.support.fake_kraken import FakeKraken

NOW = datetime(2025, 1, 20, 12, 34, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def fake():
    server = FakeKraken(NOW).start()
    server.add_pair("XXBTZUSD", "XBTUSD", "XBT/USD")
    server.add_pair("XDGUSD", "XDGUSD", "XDG/USD")
    server.add_pair("SOLUSD", "SOLUSD", "SOL/USD")
    yield server
    server.stop()


def source(fake, **kw) -> KrakenRestSource:
    kw = {"rate_per_second": 0, "backoff_seconds": 0.01, "timeout": 1.0, "max_attempts": 4} | kw
    return KrakenRestSource(fake.url, **kw)


def request(ticker="BTC", start=NOW - 10 * HOUR, end=NOW, interval=60):
    return CandleRequest(ticker=ticker, quote_currency="USD", interval_minutes=interval, start=start, end=end)


def test_implements_the_source_protocol(fake):
    src: Source = source(fake)
    assert src.name == "kraken" and 720 not in src.intervals and 1440 in src.intervals


def test_kraken_codes():
    assert (kraken_code("btc"), kraken_code("DOGE"), kraken_code("ETH")) == ("XBT", "XDG", "ETH")


def test_fetch_parses_strings_and_drops_the_unfinished_candle(fake):
    current = floor_time(NOW, 60)
    fake.add_candles("XBTUSD", 60, [current - 3 * HOUR, current - 2 * HOUR, current - HOUR, current])
    with source(fake) as src:
        df = src.fetch(request(end=NOW + HOUR))
    assert df.schema == pl.Schema(CANDLE_SCHEMA)
    assert df.get_column("time").to_list() == [current - 3 * HOUR, current - 2 * HOUR, current - HOUR]
    row = df.row(0, named=True)
    assert (row["open"], row["high"], row["low"], row["close"], row["vwap"], row["volume"], row["trade_count"]) == (
        100.0, 101.0, 99.0, 100.5, 100.25, 2.5, 7)
    assert fake.calls("OHLC")[0] == {"pair": "XBTUSD", "interval": "60",
                                     "since": str(int(request().start.timestamp()) - 1)}


def test_pairs_are_resolved_once_per_source(fake):
    with source(fake) as src:
        src.fetch(request())
        src.fetch(request(ticker="DOGE"))
        src.fetch(request(ticker="SOL"))
    assert len(fake.calls("AssetPairs")) == 1
    assert [c["pair"] for c in fake.calls("OHLC")] == ["XBTUSD", "XDGUSD", "SOLUSD"]


def test_fetch_window_filters_and_720_limit(fake):
    current = floor_time(NOW, 60)
    fake.add_candles("XBTUSD", 60, [current - i * HOUR for i in range(1, 1000)])
    with source(fake) as src:
        old = src.fetch(request(start=current - 900 * HOUR, end=current))
        recent = src.fetch(request(start=current - 5 * HOUR, end=current - 2 * HOUR))
    assert old.height == 719 and old.get_column("time").min() == current - 719 * HOUR
    assert recent.get_column("time").to_list() == [current - 5 * HOUR, current - 4 * HOUR, current - 3 * HOUR]


def test_retries_rate_limits_and_service_errors_then_succeeds(fake):
    fake.add_candles("XBTUSD", 60, [floor_time(NOW, 60) - HOUR])
    fake.script("OHLC", "EAPI:Rate limit exceeded", "EGeneral:Too many requests", 503)
    fake.script("AssetPairs", "EService:Unavailable")
    with source(fake) as src:
        assert src.fetch(request()).height == 1
    assert len(fake.calls("OHLC")) == 4 and len(fake.calls("AssetPairs")) == 2


def test_retries_timeouts(fake):
    fake.script("OHLC", ("sleep", 1.5))
    with source(fake, timeout=0.5) as src:
        assert src.fetch(request()).height == 0
    assert len(fake.calls("OHLC")) == 2


def test_gives_up_after_max_attempts(fake):
    fake.script("OHLC", *["EService:Busy"] * 10)
    with source(fake, max_attempts=3) as src, pytest.raises(KrakenRetryableError, match="EService:Busy.*3 attempts"):
        src.fetch(request())
    assert len(fake.calls("OHLC")) == 3


def test_unknown_pair_is_not_retried(fake):
    with source(fake) as src:
        with pytest.raises(KrakenAPIError, match="EQuery:Unknown asset pair.*NOPE/USD"):
            src.fetch(request(ticker="NOPE"))
        # Kraken itself saying so (pair known to AssetPairs, refused by OHLC): also no retry.
        fake.script("OHLC", "EQuery:Unknown asset pair")
        with pytest.raises(KrakenAPIError, match="EQuery:Unknown asset pair"):
            src.fetch(request())
        fake.script("OHLC", "EGeneral:Invalid arguments")
        with pytest.raises(KrakenAPIError, match="EGeneral:Invalid arguments"):
            src.fetch(request())
    assert len(fake.calls("OHLC")) == 2


def test_720_minute_candles_are_not_in_the_api(fake):
    with source(fake) as src, pytest.raises(KrakenAPIError, match="no 720-minute candles"):
        src.fetch(request(interval=720))
    assert fake.calls("OHLC") == []


def test_rate_limit_spaces_requests(fake):
    import time

    with source(fake, rate_per_second=20) as src:
        began = time.monotonic()
        for _ in range(5):
            src.fetch(request())
        elapsed = time.monotonic() - began
    assert elapsed >= 5 * 0.05 - 0.01  # 6 requests (AssetPairs + 5 OHLC): 5 pauses of 50 ms


def test_invalid_candles_are_rejected():
    t = 1_700_000_000 - 1_700_000_000 % 3600
    rows = [[t, "10", "9", "11", "10", "10", "1", 1], [t + 3600, "1", "1", "1", "1", "1", "0", 0]]
    with pytest.raises(KrakenAPIError, match="high < low"):
        parse_ohlc_rows(rows, 60)
    with pytest.raises(KrakenAPIError, match="not aligned"):
        parse_ohlc_rows([[t + 60, "1", "1", "1", "1", "1", "1", 1], rows[1]], 60)
    with pytest.raises(KrakenAPIError, match="malformed"):
        parse_ohlc_rows([[t, "x", "1", "1", "1", "1", "1", 1], rows[1]], 60)
    page = parse_ohlc_rows(rows[1:], 60)
    assert page.candles.height == 0 and page.current == datetime.fromtimestamp(t + 3600, UTC)
