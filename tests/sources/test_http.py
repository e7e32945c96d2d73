"""The shared HTTP layer: keys stay on their source's host, Retry-After and rate windows decide the waits.

Waits are recorded through the client's ``sleep`` hook instead of slept, so the tests stay fast.
"""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from feefifofunds.sources import CandleRequest
from feefifofunds.sources.finnhub import FinnhubSource
from feefifofunds.sources.http import ForeignHostError, RateLimitedError, origin, retry_after_seconds
from feefifofunds.sources.massive import RATE_WINDOW_SECONDS, MassiveSource
from tests.support import api_fixtures as fx
from tests.support.fake_finnhub import KEY as FINNHUB_KEY
from tests.support.fake_finnhub import FakeFinnhub
from tests.support.fake_massive import KEY as MASSIVE_KEY
from tests.support.fake_massive import FakeMassive

api_settings, fake_massive, fake_finnhub = fx.api_settings, fx.fake_massive, fx.fake_finnhub  # fixtures

START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 13, tzinfo=UTC)


def crypto(ticker="BTC"):
    return CandleRequest(ticker, "USD", 1440, START, END, category="CRYPTO")


def elsewhere(server) -> str:
    """The same fake server under another host name: to the client, another host."""
    return server.url.replace("127.0.0.1", "localhost")


@pytest.fixture
def other_host():
    with FakeFinnhub() as server:
        yield server


def test_origin_fills_default_ports():
    assert origin("https://api.kraken.com/0/public") == ("https", "api.kraken.com", 443)
    assert origin("https://API.kraken.com:443/x") == origin("https://api.kraken.com/y")
    assert origin("http://127.0.0.1:8000/") != origin("http://localhost:8000/")


def test_finnhub_token_is_not_sent_along_a_cross_host_redirect(fake_finnhub, other_host):
    target = elsewhere(other_host) + "/api/v1/crypto/candle?symbol=BINANCE:BTCUSDT&resolution=D&from=1&to=2"
    fake_finnhub.fail("/crypto/candle", 302, b"", headers={"Location": target})
    with pytest.raises(ForeignHostError) as err:
        FinnhubSource.from_settings().fetch(crypto())
    message = str(err.value)
    assert "another host" in message and "localhost" in message and FINNHUB_KEY not in message
    assert other_host.requests == []  # nothing at all went to the other host, so no token either
    assert len(fake_finnhub.requests) == 1


def test_same_host_redirect_is_followed_with_the_key(fake_finnhub):
    fake_finnhub.fail("/crypto/candle", 301, b"", headers={
        "Location": "/api/v1/crypto/candle?symbol=BINANCE:BTCUSDT&resolution=D&from=1704067200&to=1705103999"})
    frame = FinnhubSource.from_settings().fetch(crypto())
    assert frame.height == 12
    assert [r.headers.get("x-finnhub-token") for r in fake_finnhub.requests] == [FINNHUB_KEY, FINNHUB_KEY]


def test_massive_next_url_on_another_host_is_refused(fake_massive):
    with FakeMassive() as other:
        fake_massive.page_size = 3
        fake_massive.next_url_base = elsewhere(other)
        with pytest.raises(ForeignHostError, match="pagination URL to another host"):
            MassiveSource.from_settings().fetch(crypto())
        assert other.requests == []
    assert len(fake_massive.requests) == 1
    assert all(MASSIVE_KEY not in r.raw_url for r in fake_massive.requests)


def test_retry_after_is_honoured_and_capped(fake_massive, api_settings):
    waits: list[float] = []
    fake_massive.fail("/X:BTCUSD/", 429, {"status": "ERROR"}, headers={"Retry-After": "7"})
    fake_massive.fail("/X:BTCUSD/", 503, {"status": "ERROR"}, headers={"Retry-After": "100000"})
    source = MassiveSource(MASSIVE_KEY, base_url=fake_massive.url, sleep=waits.append, retry_after_max=120.0)
    assert source.fetch(crypto()).height == 12
    assert waits == [7.0, 120.0]


def test_massive_429_waits_out_its_60_second_window(fake_massive, api_settings):
    del api_settings.MASSIVE_RATE_WINDOW_SECONDS  # the real default
    waits: list[float] = []
    fake_massive.fail("/X:BTCUSD/", 429, {"status": "ERROR", "error": "exceeded"}, times=2)
    source = MassiveSource(MASSIVE_KEY, base_url=fake_massive.url, sleep=waits.append)
    assert source.fetch(crypto()).height == 12
    assert RATE_WINDOW_SECONDS == 60.0 and waits == [60.0, 60.0]
    assert sum(waits) >= RATE_WINDOW_SECONDS  # the old backoff gave up after ~15 s in total


def test_massive_gives_up_after_its_attempts(fake_massive, api_settings):
    waits: list[float] = []
    fake_massive.fail("/X:BTCUSD/", 429, {"status": "ERROR", "error": "exceeded"}, times=-1)
    source = MassiveSource(MASSIVE_KEY, base_url=fake_massive.url, sleep=waits.append, rate_limit_wait=60.0)
    with pytest.raises(RateLimitedError, match="HTTP 429"):
        source.fetch(crypto())
    assert waits == [60.0, 60.0]  # API_RETRY_ATTEMPTS = 3 in the tests


def test_retry_after_formats():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now.timestamp()) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now.timestamp()) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
