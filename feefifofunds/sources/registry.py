"""Every API source by name: the one place a name given on the command line becomes a ``Source`` class."""

from __future__ import annotations

from . import Source, SourceError
from .finnhub import FinnhubSource
from .kraken_rest import KrakenRestSource
from .massive import MassiveSource

SOURCES: dict[str, type[Source]] = {cls.name: cls for cls in (MassiveSource, FinnhubSource, KrakenRestSource)}


def source_class(name: str) -> type[Source]:
    try:
        return SOURCES[name]
    except KeyError:
        raise SourceError(f"unknown source {name!r} (known: {', '.join(SOURCES)})") from None


def open_source(name: str) -> Source:
    """A configured source for one run (one HTTP session, one rate limiter); use it with ``with``."""
    return source_class(name).from_settings()
