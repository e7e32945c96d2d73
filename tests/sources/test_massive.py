from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from feefifofunds.sources import CANDLE_SCHEMA, CandleRequest, SourceError
from feefifofunds.sources.http import (
    ApiClient,
    AuthenticationError,
    MissingKeyError,
    NetworkError,
    NotEntitledError,
    RateLimiter,
    ServerSideError,
    scrub,
)
from feefifofunds.sources.massive import MassiveSource, massive_ticker
from tests.support import api_fixtures as fx
from tests.support.fake_massive import KEY

api_settings, fake_massive = fx.api_settings, fx.fake_massive  # fixtures


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def request(ticker="AAPL", start=None, end=None, category="STOCK", quote="USD"):
    return CandleRequest(ticker, quote, 1440, start or utc(2024, 1, 1), end or utc(2024, 1, 13), category=category)


def no_key_in_urls(server):
    for r in server.requests:
        assert KEY not in r.raw_url and "apiKey" not in r.raw_url
        assert r.headers.get("authorization") == f"Bearer {KEY}"


def test_ticker_mapping():
    assert massive_ticker("btc", "CRYPTO") == "X:BTCUSD"
    assert massive_ticker("ETH", "CRYPTO", "EUR") == "X:ETHEUR"
    assert massive_ticker("EUR", "CURRENCY") == "C:EURUSD"
    assert massive_ticker("AAPL", "STOCK") == "AAPL"


def test_daily_stock_candles_are_utc_days_weekdays_only(fake_massive):
    frame = MassiveSource.from_settings().fetch(request())
    assert frame.schema == CANDLE_SCHEMA
    days = [t.date() for t in frame["time"]]
    # 2024-01-01..12: weekdays only; bars start at midnight New York, stored as the UTC day
    assert days == [date(2024, 1, d) for d in (1, 2, 3, 4, 5, 8, 9, 10, 11, 12)]
    assert all(t.hour == 0 for t in frame["time"])
    assert frame["trade_count"].null_count() == 0 and frame["vwap"].null_count() == 0
    assert fake_massive.paths() == ["/v2/aggs/ticker/AAPL/range/1/day/1704067200000/1705103999999"]
    no_key_in_urls(fake_massive)


def test_pagination_follows_next_url_with_key_in_header(fake_massive):
    fake_massive.page_size = 3
    frame = MassiveSource.from_settings().fetch(request())
    assert frame.height == 10
    assert len(fake_massive.requests) == 4
    assert [r.query.get("cursor") for r in fake_massive.requests] == [None, "3", "6", "9"]
    no_key_in_urls(fake_massive)


def test_crypto_has_weekends(fake_massive):
    frame = MassiveSource.from_settings().fetch(request("BTC", category="CRYPTO"))
    assert frame.height == 12
    assert fake_massive.paths()[0].startswith("/v2/aggs/ticker/X:BTCUSD/")


def test_unknown_ticker_is_empty(fake_massive):
    assert MassiveSource.from_settings().fetch(request("NOPE")).height == 0


def test_unfinished_candle_is_dropped(fake_massive):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    frame = MassiveSource.from_settings().fetch(
        request("BTC", start=today - timedelta(days=2), end=today + timedelta(days=3), category="CRYPTO"))
    assert [t.date() for t in frame["time"]] == [(today - timedelta(days=n)).date() for n in (2, 1)]


def test_grouped_daily_one_call_all_tickers(fake_massive):
    source = MassiveSource.from_settings()
    frame = source.grouped_daily(date(2024, 1, 2), "stocks")
    assert sorted(frame["ticker"]) == ["AAPL", "GLD", "MSFT", "ZZZZ"]
    assert set(frame["time"]) == {utc(2024, 1, 2)}
    assert source.grouped_daily(date(2024, 1, 6), "stocks").height == 0  # Saturday
    assert source.grouped_daily(date(2024, 1, 6), "crypto").height == 3
    assert fake_massive.paths() == ["/v2/aggs/grouped/locale/us/market/stocks/2024-01-02",
                                    "/v2/aggs/grouped/locale/us/market/stocks/2024-01-06",
                                    "/v2/aggs/grouped/locale/global/market/crypto/2024-01-06"]


def test_missing_key_names_the_variable(api_settings):
    with pytest.raises(MissingKeyError, match="MASSIVE_API_KEY"):
        MassiveSource.from_settings()


def test_401_is_not_retried_and_explained(fake_massive, api_settings):
    api_settings.MASSIVE_API_KEY = "wrong-" + KEY
    with pytest.raises(AuthenticationError) as err:
        MassiveSource.from_settings().fetch(request())
    assert "Unknown API Key" in str(err.value) and "MASSIVE_API_KEY" in str(err.value)
    assert KEY not in str(err.value)
    assert len(fake_massive.requests) == 1


def test_403_is_not_retried_and_explained(fake_massive):
    fake_massive.fail("/AAPL/", 403, {"status": "NOT_AUTHORIZED", "message": "You are not entitled to this data."})
    with pytest.raises(NotEntitledError, match="not entitled.*plan does not include"):
        MassiveSource.from_settings().fetch(request())
    assert len(fake_massive.requests) == 1


def test_429_then_success(fake_massive):
    fake_massive.fail("/AAPL/", 429, {"status": "ERROR", "error": "You've exceeded the maximum requests"}, times=2)
    assert MassiveSource.from_settings().fetch(request()).height == 10
    assert len(fake_massive.requests) == 3


def test_5xx_gives_up_after_the_attempts(fake_massive):
    fake_massive.fail("/AAPL/", 502, b"", times=-1)
    with pytest.raises(ServerSideError, match="HTTP 502"):
        MassiveSource.from_settings().fetch(request())
    assert len(fake_massive.requests) == 3  # API_RETRY_ATTEMPTS


def test_unsupported_interval(fake_massive):
    with pytest.raises(SourceError, match="cannot give 7-minute"):
        MassiveSource.from_settings().fetch(CandleRequest("AAPL", "USD", 7, utc(2024, 1, 1), utc(2024, 1, 2)))


def test_timeout_is_retried(api_settings):
    calls = []

    def handler(req):
        calls.append(req)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=req)
        return httpx.Response(200, json={"ok": True})

    api = ApiClient("X", "http://x.invalid", transport=httpx.MockTransport(handler), backoff=0)
    assert api.get_json("/a") == {"ok": True} and len(calls) == 2


def test_network_error_message_is_scrubbed(api_settings):
    def handler(req):
        raise httpx.ConnectError(f"cannot reach {req.url}", request=req)

    api = ApiClient("X", "http://x.invalid", secrets=["s3cr3t"], transport=httpx.MockTransport(handler),
                    backoff=0, attempts=2)
    with pytest.raises(NetworkError) as err:
        api.get_json("/a", {"token": "s3cr3t", "q": 1})
    assert "s3cr3t" not in str(err.value) and "token=***" in str(err.value)


def test_scrub():
    text = "GET https://finnhub.io/api/v1/x?symbol=A&token=abc123 and https://api.massive.com/v2?apiKey=zz&cursor=1"
    clean = scrub(text, ["abc123", "zz"])
    assert "abc123" not in clean and "zz" not in clean
    assert "symbol=A" in clean and "cursor=1" in clean and "token=***" in clean
    assert scrub("key mykey in text", ["mykey"]) == "key *** in text"


def test_rate_limiter_sliding_window():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(5, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert slept == []
    now[0] = 10.0
    limiter.acquire()  # sixth call in the window waits until the first leaves it
    assert slept == [50.0]
    for _ in range(4):
        limiter.acquire()
    assert slept == [50.0]  # the first five left the window at t=60
    limiter.acquire()
    assert slept == [50.0, 60.0] and now[0] == 120.0


def test_one_limiter_shared_across_requests(fake_massive, api_settings):
    limiter = RateLimiter(1000)
    source = MassiveSource(KEY, limiter=limiter)
    source.fetch(request())
    source.fetch(request("MSFT"))
    assert len(limiter._calls) == 2
