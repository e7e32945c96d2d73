"""Every source by name: the one place a name (the command line's ``--source``) becomes a ``Source`` class.

A source is registered under its ``name`` (what it stores in ``assetprice.source``), except the Trades
source: its candles are Kraken's candles, stored as ``kraken`` in one series with the archive's and the
OHLC endpoint's, so the registry knows it as ``kraken_trades``.
"""

from __future__ import annotations

from . import Source, SourceError
from .finnhub import FinnhubSource
from .kraken_rest import KrakenRestSource
from .kraken_trades import KrakenTradesSource
from .massive import MassiveSource

SOURCES: dict[str, type[Source]] = {
    **{cls.name: cls for cls in (MassiveSource, FinnhubSource, KrakenRestSource)},
    "kraken_trades": KrakenTradesSource,
}


def source_class(name: str) -> type[Source]:
    try:
        return SOURCES[name]
    except KeyError:
        raise SourceError(f"unknown source {name!r} (known: {', '.join(SOURCES)})") from None
