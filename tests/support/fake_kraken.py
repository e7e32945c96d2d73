"""A local stand-in for Kraken's public REST API (/0/public/OHLC and /0/public/AssetPairs), in real shapes.

- HTTP 200 with errors in the ``error`` array; numbers as strings; the OHLC result keyed by the internal pair
  name (XXBTZUSD) plus ``last``.
- At most the 720 most recent candle slots come back whatever ``since`` says (``since`` is exclusive), and the
  last row is always the current, unfinished candle (made up from the last close when nobody traded).
- Intervals without trades have no candle, as in the archive.
- ``script(path, *steps)`` queues what the next requests to that endpoint get instead of the normal answer:
  a Kraken error string (``"EAPI:Rate limit exceeded"``), an HTTP status (``503``) or ``("sleep", seconds)``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

API_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
MAX_CANDLES = 720


class FakeKraken:
    def __init__(self, now: datetime):
        self.now = now
        self.pairs: dict[str, dict] = {}
        # (altname, interval) -> {unix time: (open, high, low, close, vwap, volume, count)}
        self.candles: dict[tuple[str, int], dict[int, tuple]] = defaultdict(dict)
        self.scripts: dict[str, deque] = defaultdict(deque)
        self.requests: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

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
        self.scripts[path].extend(steps)

    def calls(self, path: str) -> list[dict]:
        return [params for p, params in self.requests if p == path]

    # --- server --------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeKraken:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                fake._handle(self)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- answers -------------------------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(req.path)
        params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        path = parsed.path.rsplit("/", 1)[-1]
        with self._lock:
            self.requests.append((path, params))
            step = self.scripts[path].popleft() if self.scripts[path] else None
        if isinstance(step, tuple) and step[0] == "sleep":
            time.sleep(step[1])
            step = None
        if isinstance(step, int):
            return self._send(req, step, {"error": [f"HTTP {step}"]})
        if isinstance(step, str):
            return self._send(req, 200, {"error": [step]})
        if parsed.path == "/0/public/AssetPairs":
            return self._send(req, 200, self._asset_pairs(params))
        if parsed.path == "/0/public/OHLC":
            return self._send(req, 200, self._ohlc(params))
        return self._send(req, 404, {"error": ["EGeneral:Unknown method"]})

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

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
