"""A local stand-in for Kraken's public REST API (/0/public/OHLC and /0/public/AssetPairs), in real shapes.

- HTTP 200 with errors in the ``error`` array; numbers as strings; the OHLC result keyed by the internal pair
  name (XXBTZUSD) plus ``last``.
- At most the 720 most recent candle slots come back whatever ``since`` says (``since`` is exclusive), and the
  last row is always the current, unfinished candle (made up from the last close when nobody traded).
- Intervals without trades have no candle, as in the archive.
- ``script(path, *steps)`` queues what the next requests to that endpoint get instead of the normal answer:
  a Kraken error string (``"EAPI:Rate limit exceeded"``), an HTTP status (``503``) or ``("sleep", seconds)``.

The server plumbing (thread, recorded requests, scripted answers) is ``fake_http.FakeApi``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from .fake_http import FakeApi

API_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
MAX_CANDLES = 720


class FakeKraken(FakeApi):
    def __init__(self, now: datetime):
        super().__init__()
        self.now = now
        self.pairs: dict[str, dict] = {}
        # (altname, interval) -> {unix time: (open, high, low, close, vwap, volume, count)}
        self.candles: dict[tuple[str, int], dict[int, tuple]] = defaultdict(dict)

    # --- setup ---------------------------------------------------------------------------------------------

    def add_pair(self, key: str, altname: str, wsname: str, status: str = "online") -> None:
        """E.g. ``add_pair("XXBTZUSD", "XBTUSD", "XBT/USD")``."""
        base, quote = wsname.split("/")
        self.pairs[key] = {"altname": altname, "wsname": wsname, "base": base, "quote": quote, "status": status}

    def add_candles(self, altname: str, interval: int, times, *, price: float = 100.0) -> None:
        for t in times:
            ts = int(t.timestamp()) if isinstance(t, datetime) else int(t)
            self.candles[(altname, interval)][ts] = (price, price + 1, price - 1, price + 0.5, price + 0.25, 2.5, 7)

    def script(self, path: str, *steps) -> None:
        """``path``: "OHLC" or "AssetPairs"."""
        match = f"/0/public/{path}"
        for step in steps:
            if isinstance(step, tuple) and step[0] == "sleep":
                self.delay(match, step[1])
            elif isinstance(step, int):
                self.fail(match, step, {"error": [f"HTTP {step}"]})
            else:
                self.fail(match, 200, {"error": [step]})

    def calls(self, path: str) -> list[dict]:
        return [r.query for r in self.requests if r.path.rsplit("/", 1)[-1] == path]

    # --- answers -------------------------------------------------------------------------------------------

    def answer(self, path, query, headers):
        if path == "/0/public/AssetPairs":
            return 200, self._asset_pairs(query)
        if path == "/0/public/OHLC":
            return 200, self._ohlc(query)
        return 404, {"error": ["EGeneral:Unknown method"]}

    def _find_pair(self, name: str) -> tuple[str, dict] | None:
        for key, info in self.pairs.items():
            if name.upper() in (key, info["altname"], info["wsname"].replace("/", "")):
                return key, info
        return None

    def _asset_pairs(self, params: dict) -> dict:
        if "pair" not in params:
            return {"error": [], "result": self.pairs}
        result = {}
        for name in params["pair"].split(","):
            found = self._find_pair(name)
            if found is None:
                return {"error": ["EQuery:Unknown asset pair"]}
            result[found[0]] = found[1]
        return {"error": [], "result": result}

    def _ohlc(self, params: dict) -> dict:
        found = self._find_pair(params.get("pair", ""))
        if found is None:
            return {"error": ["EQuery:Unknown asset pair"]}
        try:
            interval = int(params.get("interval", 1))
            since = int(params["since"]) if "since" in params else None
        except ValueError:
            return {"error": ["EGeneral:Invalid arguments"]}
        if interval not in API_INTERVALS:
            return {"error": ["EGeneral:Invalid arguments"]}
        key, info = found
        step = interval * 60
        now = int(self.now.astimezone(UTC).timestamp())
        current = now - now % step
        oldest = current - (MAX_CANDLES - 1) * step
        stored = self.candles.get((info["altname"], interval), {})
        rows = []
        last_close = 100.0
        for t in sorted(stored):
            if t > current:
                break
            o, h, lo, c, vwap, vol, n = stored[t]
            last_close = c
            if t < oldest or (since is not None and t <= since):
                continue
            rows.append([t, f"{o:.5f}", f"{h:.5f}", f"{lo:.5f}", f"{c:.5f}", f"{vwap:.5f}", f"{vol:.8f}", n])
        if not rows or rows[-1][0] != current:
            c = f"{last_close:.5f}"
            rows.append([current, c, c, c, c, "0.00000", "0.00000000", 0])
        return {"error": [], "result": {key: rows, "last": current}}
