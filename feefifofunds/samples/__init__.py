"""Synthetic Kraken OHLCVT archives in the real file format, for the demo and the benchmark.

Prices follow a random walk; candles are dropped in runs to mimic intervals without trades, more often
for illiquid pairs, as in Kraken's real files. Generation is vectorized (numpy + polars), so millions of
rows take seconds. Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

DEMO_BASES = ("XBT", "ETH", "SOL", "XDG", "LINK", "DOT", "BAT", "MANA", "PEPE", "KEEP")


@dataclass(frozen=True)
class Spec:
    interval_minutes: int
    days: int


def _series(rng: np.random.Generator, interval: int, days: int, end: int, liquidity: float, price: float):
    step = interval * 60
    n = days * 1440 // interval
    end -= end % step
    times = end - step * np.arange(n, 0, -1, dtype=np.int64)
    # No-trade runs: each candle starts a gap with probability p, gaps last 1..(a few) candles.
    p_gap = (1 - liquidity) * 0.08
    starts = rng.random(n) < p_gap
    lengths = rng.integers(1, 6, n)
    # Candle j is missing when a gap starting at some i <= j reaches past it: the running maximum of the
    # gaps' ends says so for every candle at once.
    index = np.arange(n, dtype=np.int64)
    reach = np.maximum.accumulate(np.where(starts, index + lengths, 0))
    keep = reach <= index
    keep[0] = keep[-1] = True
    return _candles(rng, times, interval, liquidity, price).filter(pl.Series(keep))


def _candles(rng: np.random.Generator, times: np.ndarray, interval: int, liquidity: float, price: float,
             trades: np.ndarray | None = None) -> pl.DataFrame:
    """A random walk of candles at ``times`` (Unix seconds), in the archive's columns; ``trades``: the trade
    counts, else a few dozen per 5 minutes."""
    n = len(times)
    returns = rng.normal(0, 0.002 * np.sqrt(interval), n)
    close = price * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[price], close[:-1]])
    spread = np.abs(rng.normal(0, 0.001 * np.sqrt(interval), n)) * close
    high = np.maximum(open_, close) + spread
    low = np.maximum(np.minimum(open_, close) - spread, close * 0.5)
    volume = rng.gamma(2.0, 5.0 * interval, n) * liquidity
    if trades is None:
        trades = rng.integers(1, 40, n) * max(1, interval // 5)
    return pl.DataFrame({
        "time": times, "open": open_.round(5), "high": high.round(5), "low": low.round(5),
        "close": close.round(5), "volume": volume.round(8), "trades": trades,
    })


def generate(out_dir: Path, *, bases: tuple[str, ...] = DEMO_BASES, quotes: tuple[str, ...] = ("USD", "EUR"),
             specs: tuple[Spec, ...] = (Spec(60, 30), Spec(240, 120), Spec(1440, 365)),
             end: int | None = None, seed: int = 7) -> tuple[int, int]:
    """Write ``{PAIR}_{MINUTES}.csv`` files under ``out_dir``; returns (files, rows).

    Series end at ``end`` (Unix seconds; default: the start of today, UTC, so recent gaps are within
    reach of Kraken's REST API in the demo).
    """
    if end is None:
        import time

        end = int(time.time()) // 86400 * 86400
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = rows = 0
    for b, base in enumerate(bases):
        liquidity = 0.98 - 0.6 * b / max(1, len(bases) - 1)
        for quote in quotes:
            for spec in specs:
                df = _series(rng, spec.interval_minutes, spec.days, end, liquidity, 10.0 ** rng.uniform(-1, 4))
                df.write_csv(out_dir / f"{base}{quote}_{spec.interval_minutes}.csv", include_header=False)
                files += 1
                rows += df.height
    return files, rows


REAL_EXCERPTS = Path(__file__).resolve().parent / "kraken"


def build_demo_archive(out_dir: Path) -> tuple[int, int]:
    """Real Kraken excerpts (first 300 daily candles of four pairs) plus a generated multi-pair archive."""
    import shutil

    real = out_dir / "kraken_excerpts"
    real.mkdir(parents=True, exist_ok=True)
    files = rows = 0
    for path in sorted(REAL_EXCERPTS.glob("*.csv")):
        shutil.copy(path, real / path.name)
        files += 1
        rows += path.read_text().count("\n")
    f, r = generate(out_dir / "generated")
    return files + f, rows + r
