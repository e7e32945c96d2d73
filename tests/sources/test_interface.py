"""The source interface: capabilities are declared (classes), sources are found by name, sessions close."""

from datetime import UTC, datetime

import pytest

from feefifofunds.ingestion import api_loader
from feefifofunds.sources import CandleRequest, GroupedDailySource, PagedSource, Source, SourceError
from feefifofunds.sources.finnhub import FinnhubSource
from feefifofunds.sources.kraken_rest import KrakenRestSource
from feefifofunds.sources.kraken_trades import KrakenTradesSource
from feefifofunds.sources.massive import MassiveSource
from feefifofunds.sources.registry import SOURCES, source_class
from tests.support.fake_kraken import FakeKraken

NOW = datetime(2025, 1, 20, 12, 34, tzinfo=UTC)


def test_registry_by_name():
    assert SOURCES == {"massive": MassiveSource, "finnhub": FinnhubSource, "kraken": KrakenRestSource,
                       "kraken_trades": KrakenTradesSource}
    assert all(cls.name == name for name, cls in SOURCES.items() if name != "kraken_trades")
    assert KrakenTradesSource.name == "kraken"  # candles from trades are stored as Kraken's, one series
    with pytest.raises(SourceError, match="unknown source 'nope'"):
        source_class("nope")


def test_capabilities_are_declared():
    assert issubclass(MassiveSource, GroupedDailySource) and not issubclass(MassiveSource, PagedSource)
    assert issubclass(KrakenRestSource, PagedSource) and not issubclass(KrakenRestSource, GroupedDailySource)
    assert not issubclass(FinnhubSource, (PagedSource, GroupedDailySource))
    assert api_loader.offers_grouped_daily("massive") and not api_loader.offers_grouped_daily("finnhub")


def test_a_source_without_the_verbs_cannot_be_made():
    class Half(Source):
        name = "half"
        intervals = (1,)
        intervals_help = "1"

        @classmethod
        def from_settings(cls):
            return cls(None)

    with pytest.raises(TypeError, match="fetch"):
        Half.from_settings()


def test_page_says_what_it_covered_and_where_to_resume(settings):
    settings.KRAKEN_API_RATE_PER_SECOND = 0
    with FakeKraken(NOW) as fake:
        fake.add_pair("XXBTZUSD", "XBTUSD", "XBT/USD")
        hour = 3600
        current = int(NOW.timestamp()) // hour * hour
        fake.add_candles("XBTUSD", 60, [current - 3 * hour, current - hour])
        with KrakenRestSource(fake.url) as source:
            request = CandleRequest("BTC", "USD", 60, datetime.fromtimestamp(current - 5 * hour, UTC),
                                    datetime.fromtimestamp(current, UTC))
            page = source.fetch_page(request)
            assert page.candles.height == 2
            assert page.covered_until == datetime.fromtimestamp(current, UTC)
            assert page.covered_from == datetime.fromtimestamp(current - 719 * hour, UTC)
            assert page.cursor is not None
            source.fetch_page(CandleRequest(**{**request.__dict__, "cursor": page.cursor}))
            assert source.requests == 3  # AssetPairs once, OHLC twice
        assert fake.calls("OHLC")[1]["since"] == page.cursor
