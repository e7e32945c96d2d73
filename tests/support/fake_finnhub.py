"""A fake Finnhub API in the documented shapes: stock, crypto and forex candles as parallel arrays.

Daily candles (resolution D) at midnight UTC, weekdays only for stocks and forex. Intraday stock candles
(resolutions 1..60) answer in sessions of a US exchange: every bar from 04:00 to 20:00 New York (pre- and
after-market included; 17:00 on an ``early_close`` day) on weekdays that are not ``holidays``, wall-clock
times, so daylight saving moves them in UTC. ``left_out`` bars (UTC times) are never served.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .fake_http import FakeApi, price

NEW_YORK = ZoneInfo("America/New_York")
EXTENDED_OPEN = time(4)
EXTENDED_CLOSE = time(20)

KEY = "finn-SECRET-token-456def"


class FakeFinnhub(FakeApi):
    def __init__(self, key: str = KEY, premium_stock: bool = False, no_data: tuple[str, ...] = ()):
        super().__init__()
        self.key = key
        self.premium_stock = premium_stock  # stock candles answer 403, as for a free key
        self.no_data = set(no_data)
        self.holidays: set[date] = set()
        self.early_close: set[date] = set()
        self.left_out: set[datetime] = set()

    def answer(self, path, query, headers):
        token = headers.get("x-finnhub-token") or query.get("token")
        if token != self.key:
            return 401, {"error": "Invalid API key"}
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "v1"] or len(parts) != 4 or parts[3] != "candle":
            return 404, {"error": "not found"}
        kind = parts[2]
        if kind not in ("stock", "crypto", "forex"):
            return 404, {"error": "not found"}
        if kind == "stock" and self.premium_stock:
            return 403, {"error": "You don't have access to this resource."}
        resolution = query.get("resolution")
        if resolution != "D" and not (kind == "stock" and resolution in ("1", "5", "15", "30", "60")):
            return 422, {"error": "fake supports resolution D, and 1..60 for stocks"}
        symbol = query["symbol"]
        if symbol in self.no_data:
            return 200, {"s": "no_data"}
        start, end = int(query["from"]), int(query["to"])
        if resolution != "D":
            return self.intraday(symbol, int(resolution), start, end)
        day = datetime.fromtimestamp(start, UTC).replace(hour=0, minute=0, second=0)
        if day.timestamp() < start:
            day += timedelta(days=1)
        rows = []
        while day.timestamp() <= end:
            if kind == "crypto" or day.weekday() < 5:
                rows.append((int(day.timestamp()), price(symbol, day.toordinal())))
            day += timedelta(days=1)
        if not rows:
            return 200, {"s": "no_data"}
        return 200, {"s": "ok", "t": [t for t, _ in rows], **{k: [p[k] for _, p in rows] for k in "ohlcv"}}

    def intraday(self, symbol: str, minutes: int, start: int, end: int):
        rows = []
        day = datetime.fromtimestamp(start, NEW_YORK).date()
        while datetime.combine(day, EXTENDED_OPEN, NEW_YORK).timestamp() <= end:
            if day.weekday() < 5 and day not in self.holidays:
                moment = datetime.combine(day, EXTENDED_OPEN, NEW_YORK)
                close = datetime.combine(day, time(17) if day in self.early_close else EXTENDED_CLOSE, NEW_YORK)
                while moment < close:
                    t = int(moment.timestamp())
                    if start <= t <= end and moment.astimezone(UTC) not in self.left_out:
                        rows.append((t, price(symbol, t // 60)))
                    moment += timedelta(minutes=minutes)
            day += timedelta(days=1)
        if not rows:
            return 200, {"s": "no_data"}
        return 200, {"s": "ok", "t": [t for t, _ in rows], **{k: [p[k] for _, p in rows] for k in "ohlcv"}}
