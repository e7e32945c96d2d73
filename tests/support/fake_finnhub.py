"""A fake Finnhub API in the documented shapes: stock, crypto and forex candles as parallel arrays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .fake_http import FakeApi, price

KEY = "finn-SECRET-token-456def"


class FakeFinnhub(FakeApi):
    def __init__(self, key: str = KEY, premium_stock: bool = False, no_data: tuple[str, ...] = ()):
        super().__init__()
        self.key = key
        self.premium_stock = premium_stock  # stock candles answer 403, as for a free key
        self.no_data = set(no_data)

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
        if query.get("resolution") != "D":
            return 422, {"error": "fake supports resolution D only"}
        symbol = query["symbol"]
        if symbol in self.no_data:
            return 200, {"s": "no_data"}
        start, end = int(query["from"]), int(query["to"])
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
