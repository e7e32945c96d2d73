"""A fake Massive.com REST API in the documented shapes: aggregates with next_url pagination, grouped daily."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from .fake_http import FakeApi, price

NEW_YORK = ZoneInfo("America/New_York")
KEY = "mass-SECRET-key-123abc"


def _day(value: str) -> date:
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC).date()
    return date.fromisoformat(value)


class FakeMassive(FakeApi):
    """Knows some stocks, crypto pairs and FX pairs; stocks and FX have no bars on weekends.

    Stocks answer in sessions of a US exchange when told: no bar on ``holidays`` (unless the day is in
    ``holiday_bars``: a provider's bar on a closed day), and none for the (ticker, day) pairs ``left_out``."""

    def __init__(self, key: str = KEY, page_size: int = 50000,
                 stocks=("AAPL", "MSFT", "GLD", "ZZZZ"), crypto=("X:BTCUSD", "X:ETHUSD", "X:DOGEUSD"),
                 fx=("C:EURUSD", "C:GBPUSD")):
        super().__init__()
        self.key = key
        self.page_size = page_size
        self.markets = {"stocks": list(stocks), "crypto": list(crypto), "fx": list(fx)}
        self.next_url_base: str | None = None  # where next_url points (default: this server)
        self.holidays: set[date] = set()
        self.holiday_bars: set[tuple[str, date]] = set()
        self.left_out: set[tuple[str, date]] = set()

    def market_of(self, ticker: str) -> str | None:
        return next((m for m, tickers in self.markets.items() if ticker in tickers), None)

    def bar(self, ticker: str, market: str, day: date) -> dict | None:
        if market in ("stocks", "fx") and day.weekday() >= 5:
            return None
        if market == "stocks" and (((ticker, day) in self.left_out)
                                   or (day in self.holidays and (ticker, day) not in self.holiday_bars)):
            return None
        if market == "stocks":  # daily stock bars start at midnight New York
            start = datetime(day.year, day.month, day.day, tzinfo=NEW_YORK)
        else:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return {"t": int(start.timestamp() * 1000), **price(ticker, day.toordinal())}

    def answer(self, path, query, headers):
        if headers.get("authorization") != f"Bearer {self.key}":
            if "authorization" not in headers:
                return 401, {"status": "ERROR", "request_id": "x", "error": "API Key was not provided"}
            return 401, {"status": "ERROR", "request_id": "x", "error": "Unknown API Key"}
        parts = path.strip("/").split("/")
        if parts[:3] == ["v2", "aggs", "ticker"] and len(parts) == 9:
            return self.aggregates(parts[3], parts[5], parts[6], parts[7], parts[8], query, path)
        if parts[:3] == ["v2", "aggs", "grouped"] and len(parts) == 8:
            return self.grouped(parts[6], date.fromisoformat(parts[7]))
        return 404, {"status": "NOT_FOUND", "message": "Route not found"}

    def aggregates(self, ticker, multiplier, span, start, end, query, path):
        if (multiplier, span) != ("1", "day"):
            return 400, {"status": "ERROR", "error": "fake supports 1/day only"}
        market = self.market_of(ticker)
        first, last = _day(start), _day(end)
        lo = int(start) if start.isdigit() else None
        hi = int(end) if end.isdigit() else None
        bars = []
        day = first
        while market and day <= last:
            bar = self.bar(ticker, market, day)
            if bar and (lo is None or bar["t"] >= lo) and (hi is None or bar["t"] <= hi):
                bars.append(bar)
            day += timedelta(days=1)
        cursor = int(query.get("cursor", 0))
        page = bars[cursor:cursor + self.page_size]
        body = {"ticker": ticker, "queryCount": len(page), "resultsCount": len(page), "adjusted": True,
                "status": "OK", "request_id": "r"}
        if page:
            body["results"] = page
        if cursor + self.page_size < len(bars):
            base = self.next_url_base or self.url
            body["next_url"] = f"{base}{path}?" + urlencode({"cursor": cursor + self.page_size})
        return 200, body

    def grouped(self, market, day):
        results = []
        for ticker in self.markets.get(market, []):
            bar = self.bar(ticker, market, day)
            if bar:
                results.append({"T": ticker, **bar})
        body = {"queryCount": len(results), "resultsCount": len(results), "adjusted": True, "status": "OK"}
        if results:
            body["results"] = results
        return 200, body
