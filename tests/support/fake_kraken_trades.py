"""Kraken's public Trades endpoint, paged like the real one, plus OHLC candles built from the same trades.

The candle arithmetic here is the fake's own (plain Python over the raw trade tuples), written independently
of ``feefifofunds.sources.trade_candles``, so a test that compares the two is a real check.

Paging as documented (Kraken reference, section 4): ``since`` is either Unix seconds (a trade at or after
that second comes back) or the nanosecond ``last`` cursor of the previous answer (trades strictly after it);
at most ``count`` (1,000) trades a page, oldest first; ``last`` is the nanosecond time of the page's last
trade, or the cursor itself when there is nothing newer. Trades after the fake's ``now`` do not exist yet.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from .fake_kraken import FakeKraken

PAGE = 1000
INTERVALS = (1, 5, 15, 30, 60, 240, 720, 1440, 10080, 21600)


def _ns(t: float) -> int:
    return int(round(t * 1e9))


def make_trades(start: int, end: int, *, seed: int = 7, quiet: tuple[int, int] | None = None,
                mean_gap: float = 20.0, price: float = 30000.0) -> list[tuple]:
    """Random trades in [start, end) seconds, Kraken's tuple shape, unique times; none inside ``quiet``."""
    rng = random.Random(seed)
    trades = []
    t = float(start)
    trade_id = 1
    while True:
        t += rng.expovariate(1 / mean_gap) + 1e-6
        if t >= end:
            break
        if quiet and quiet[0] <= t < quiet[1]:
            continue
        price = max(1.0, price * (1 + rng.gauss(0, 0.0005)))
        volume = rng.lognormvariate(-3, 1.2)
        trades.append((f"{price:.5f}", f"{volume:.8f}", round(t, 4), rng.choice("bs"), rng.choice("ml"), "",
                       trade_id))
        trade_id += 1
    return trades


class FakeKrakenTrades(FakeKraken):
    """FakeKraken with ``/0/public/Trades``; ``add_trades`` also makes the OHLC endpoint serve their candles."""

    def __init__(self, now: datetime, *, page: int = PAGE):
        super().__init__(now)
        self.page = page
        self.trades: dict[str, list[tuple]] = {}

    def add_trades(self, altname: str, trades: list[tuple]) -> None:
        self.trades[altname] = sorted(self.trades.get(altname, []) + list(trades), key=lambda tr: tr[2])
        for minutes in INTERVALS:
            self.candles[(altname, minutes)] = self.ohlc_from_trades(altname, minutes)

    def ohlc_from_trades(self, altname: str, minutes: int) -> dict[int, tuple]:
        """{start: (open, high, low, close, vwap, volume, count)}, the fake's own arithmetic."""
        step = minutes * 60
        out: dict[int, list] = {}
        for price_s, volume_s, t, *_ in self.trades.get(altname, []):
            price, volume = float(price_s), float(volume_s)
            start = int(t // step) * step
            c = out.get(start)
            if c is None:
                out[start] = [price, price, price, price, price * volume, volume, 1]
            else:
                c[1] = max(c[1], price)
                c[2] = min(c[2], price)
                c[3] = price
                c[4] += price * volume
                c[5] += volume
                c[6] += 1
        return {s: (o, h, lo, cl, pv / vol if vol else cl, vol, n) for s, (o, h, lo, cl, pv, vol, n) in out.items()}

    def script_trades(self, *steps) -> None:
        self.script("Trades", *steps)

    def answer(self, path, query, headers):
        if path == "/0/public/Trades":
            return 200, self._trades(query)
        return super().answer(path, query, headers)

    def _trades(self, params: dict) -> dict:
        found = self._find_pair(params.get("pair", ""))
        if found is None:
            return {"error": ["EQuery:Unknown asset pair"]}
        key, info = found
        try:
            raw = params.get("since", "0") or "0"
            since = int(raw)
            count = int(params.get("count", PAGE))
        except ValueError:
            return {"error": ["EGeneral:Invalid arguments"]}
        count = max(1, min(count, self.page))
        cursor = since > 10**12  # a nanosecond cursor, not seconds
        now_ns = _ns(self.now.astimezone(UTC).timestamp())
        rows = []
        for trade in self.trades.get(info["altname"], []):
            ns = _ns(trade[2])
            if ns > now_ns:
                break
            if (ns > since) if cursor else (trade[2] >= since):
                rows.append([trade[0], trade[1], trade[2], trade[3], trade[4], trade[5], trade[6]])
                if len(rows) == count:
                    break
        last = str(_ns(rows[-1][2])) if rows else str(since if cursor else since * 10**9)
        return {"error": [], "result": {key: rows, "last": last}}
