from datetime import UTC, date, datetime

import pytest

from feefifofunds.sources import CANDLE_SCHEMA, CandleRequest
from feefifofunds.sources.finnhub import FinnhubSource, finnhub_symbol
from feefifofunds.sources.http import AuthenticationError, MissingKeyError, NotEntitledError, RateLimitedError
from tests.support import api_fixtures as fx
from tests.support.fake_finnhub import KEY

api_settings, fake_finnhub = fx.api_settings, fx.fake_finnhub  # fixtures


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def request(ticker="BTC", category="CRYPTO", start=None, end=None, quote="USD"):
    return CandleRequest(ticker, quote, 1440, start or utc(2024, 1, 1), end or utc(2024, 1, 8), category=category)


def test_symbol_mapping():
    assert finnhub_symbol("btc", "CRYPTO") == ("crypto", "BINANCE:BTCUSDT")
    assert finnhub_symbol("ETH", "CRYPTO", "EUR") == ("crypto", "BINANCE:ETHEUR")
    assert finnhub_symbol("EUR", "CURRENCY") == ("forex", "OANDA:EUR_USD")
    assert finnhub_symbol("AAPL", "STOCK") == ("stock", "AAPL")


def test_crypto_candles_key_only_in_header(fake_finnhub):
    frame = FinnhubSource.from_settings().fetch(request())
    assert frame.schema == CANDLE_SCHEMA
    assert [t.date() for t in frame["time"]] == [date(2024, 1, d) for d in range(1, 8)]
    assert frame["trade_count"].null_count() == 7  # Finnhub gives no trade counts
    (req,) = fake_finnhub.requests
    assert req.path == "/api/v1/crypto/candle"
    assert req.query == {"symbol": "BINANCE:BTCUSDT", "resolution": "D", "from": "1704067200", "to": "1704671999"}
    assert req.headers["x-finnhub-token"] == KEY and KEY not in req.raw_url and "token" not in req.query


def test_forex_and_stock_endpoints(fake_finnhub):
    source = FinnhubSource.from_settings()
    assert source.fetch(request("EUR", "CURRENCY")).height == 5
    assert source.fetch(request("AAPL", "STOCK")).height == 5
    assert [r.path for r in fake_finnhub.requests] == ["/api/v1/forex/candle", "/api/v1/stock/candle"]
    assert fake_finnhub.requests[0].query["symbol"] == "OANDA:EUR_USD"


def test_no_data_is_empty(fake_finnhub):
    fake_finnhub.no_data.add("BINANCE:BTCUSDT")
    frame = FinnhubSource.from_settings().fetch(request())
    assert frame.height == 0 and frame.schema == CANDLE_SCHEMA


def test_stock_candles_premium_403_explained(fake_finnhub):
    fake_finnhub.premium_stock = True
    with pytest.raises(NotEntitledError) as err:
        FinnhubSource.from_settings().fetch(request("AAPL", "STOCK"))
    message = str(err.value)
    assert "403" in message and "premium" in message and "AAPL" in message and KEY not in message
    assert len(fake_finnhub.requests) == 1


def test_401_bad_key(fake_finnhub, api_settings):
    api_settings.FINNHUB_API_KEY = "bad"
    with pytest.raises(AuthenticationError, match="FINNHUB_API_KEY"):
        FinnhubSource.from_settings().fetch(request())
    assert len(fake_finnhub.requests) == 1


def test_429_then_success(fake_finnhub):
    fake_finnhub.fail("/crypto/candle", 429, {"error": "API limit reached. Please try again later."})
    assert FinnhubSource.from_settings().fetch(request()).height == 7
    assert len(fake_finnhub.requests) == 2


def test_429_for_good_gives_up(fake_finnhub):
    fake_finnhub.fail("/crypto/candle", 429, {"error": "API limit reached."}, times=-1)
    with pytest.raises(RateLimitedError, match="429.*API limit reached"):
        FinnhubSource.from_settings().fetch(request())
    assert len(fake_finnhub.requests) == 3


def test_missing_key(api_settings):
    with pytest.raises(MissingKeyError, match="FINNHUB_API_KEY"):
        FinnhubSource.from_settings()
