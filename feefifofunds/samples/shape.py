"""The complete Kraken archive's shape at any size (pairs x 8 intervals), and its updates, for the scale benchmark.

Each pair has a listing date (spread over nine years, so coarse intervals span years and young pairs have
short files) and a liquidity: the share of its 1-minute candles in which nobody traded, near none for a
liquid pair and most of them for an illiquid one; a coarser interval misses fewer (the share raised to the
power sqrt(interval)). Candles go missing in quiet spells lasting hours, not one by one, so the store holds
gap runs by the hundred thousand, as the real archive does. A file reaches back at most ``DEPTH_DAYS`` of
its interval (1-minute candles for 90 days up to 8 years of daily ones). An update (a day, a quarter) is
one file per series over a later span, with the pair's liquidity.

Generation is vectorised (numpy, polars) and deterministic for a seed; pairs are written in parallel
processes.
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import polars as pl

from feefifofunds.samples import _candles

INTERVALS = (1, 5, 15, 30, 60, 240, 720, 1440)
DEPTH_DAYS = {1: 90, 5: 365, 15: 730, 30: 1095, 60: 1460, 240: 2190, 720: 2555, 1440: 2920}
LIQUID_SHARE = 0.30  # pairs that miss almost no candle
QUIET_MINUTES = 300.0  # mean quiet spell of a 1-minute series, in candles; an interval k: / sqrt(k)
DAY = 86_400
PARALLEL_ROWS = 2_000_000  # sets smaller than this are written in this process


@dataclass(frozen=True)
class Pair:
    """One pair of the archive: its file stem (``base + quote``), listing age and liquidity."""

    base: str
    quote: str
    seed: int
    listed_days: float  # how long before the archive's end the pair was listed
    missing_1m: float  # share of its 1-minute candles without a trade
    price: float

    @property
    def name(self) -> str:
        return self.base + self.quote

    def missing(self, interval: int) -> float:
        return self.missing_1m ** math.sqrt(interval)

    def quiet(self, interval: int) -> float:
        return max(1.0, QUIET_MINUTES / math.sqrt(interval))


def make_pairs(count: int, seed: int = 2026) -> list[Pair]:
    """``count`` pairs: bases ``SC0000``, ``SC0001``... quoted in USD, every other one in EUR too. Pair i's
    draws depend on i alone, so a larger archive holds the smaller one's pairs."""
    pairs: list[Pair] = []
    base = 0
    while len(pairs) < count:
        for quote in ("USD", "EUR") if base % 2 == 0 else ("USD",):
            if len(pairs) == count:
                break
            rng = np.random.default_rng([seed, len(pairs)])
            liquid = rng.random() < LIQUID_SHARE
            missing = rng.uniform(0.0, 0.03) if liquid else rng.uniform(0.35, 0.97)
            listed = 60 + (3300 - 60) * rng.random() ** 1.3
            pairs.append(Pair(f"SC{base:04d}", quote, int(rng.integers(2**31)), listed, missing,
                              float(10 ** rng.uniform(0, 4))))
        base += 1
    return pairs


def quiet_spells(rng: np.random.Generator, n: int, share: float, mean_quiet: float) -> np.ndarray:
    """Which of ``n`` candles have trades: active and quiet spells taking turns, of geometric lengths, the
    quiet ones averaging ``mean_quiet`` candles and about ``share`` of all. The first and last candle are
    kept (a file starts and ends with a candle)."""
    keep = np.ones(n, dtype=bool)
    if n < 3 or share < 1e-4:
        return keep
    share = min(share, 0.99)
    mean_active = mean_quiet * (1 - share) / share
    turns = int(n / (mean_active + mean_quiet) * 1.3) + 16
    lengths = np.empty(2 * turns, dtype=np.int64)
    lengths[0::2] = rng.geometric(min(1.0, 1 / mean_active), turns)
    lengths[1::2] = rng.geometric(min(1.0, 1 / mean_quiet), turns)
    ends = np.cumsum(lengths)
    quiet = ends[1::2] - lengths[1::2], ends[1::2]  # [start, end) of each quiet spell
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, np.minimum(quiet[0], n), 1)
    np.add.at(marks, np.minimum(quiet[1], n), -1)
    keep = np.cumsum(marks[:n]) == 0
    keep[0] = keep[-1] = True
    return keep


def candle_times(interval: int, start: int, end: int) -> np.ndarray:
    """The candle times of ``interval`` in [start, end) (Unix seconds)."""
    step = interval * 60
    return np.arange(-(-start // step) * step, end, step, dtype=np.int64)


def series_frame(pair: Pair, interval: int, start: int, end: int, part: int) -> pl.DataFrame:
    """The pair's candles of ``interval`` in [start, end), in the archive's columns; ``part`` numbers the
    file of the series (0 the archive, 1.. its updates) and seeds its own draws."""
    rng = np.random.default_rng([pair.seed, interval, part])
    times = candle_times(interval, start, end)
    keep = quiet_spells(rng, len(times), pair.missing(interval), pair.quiet(interval))
    # Trades per minute such that a minute without one is as likely as the pair's 1-minute misses.
    rate = -math.log(min(max(pair.missing_1m, 1e-3), 0.999))
    trades = 1 + rng.poisson(rate * interval, len(times))
    frame = _candles(rng, times, interval, 1 - pair.missing_1m, pair.price, trades=trades)
    return frame.filter(pl.Series(keep))


def archive_start(pair: Pair, interval: int, end: int, scale: float = 1.0) -> int:
    """Where the pair's file of ``interval`` starts in the complete archive ending at ``end``."""
    return end - int(min(DEPTH_DAYS[interval] * scale, pair.listed_days) * DAY)


def expected_rows(pairs: list[Pair], spans) -> int:
    """Rows the files of ``spans`` (pair, interval -> (start, end)) hold on average, without writing them."""
    total = 0.0
    for pair in pairs:
        for interval in INTERVALS:
            start, end = spans(pair, interval)
            total += len(candle_times(interval, start, end)) * (1 - pair.missing(interval))
    return int(total)


@dataclass
class Written:
    files: int = 0
    rows: int = 0
    bytes: int = 0

    def __iadd__(self, other: Written) -> Written:
        self.files, self.rows, self.bytes = self.files + other.files, self.rows + other.rows, self.bytes + other.bytes
        return self


def _write_pair(out_dir: Path, pair: Pair, spans: dict[int, tuple[int, int]], part: int) -> Written:
    written = Written()
    for interval, (start, end) in spans.items():
        frame = series_frame(pair, interval, start, end, part)
        if frame.height == 0:
            continue
        path = out_dir / f"{pair.name}_{interval}.csv"
        frame.write_csv(path, include_header=False)
        written += Written(1, frame.height, path.stat().st_size)
    return written


def write_files(out_dir: Path, pairs: list[Pair], spans, *, part: int, workers: int = 2,
                parallel_rows: int = PARALLEL_ROWS) -> Written:
    """One CSV per pair and interval, spans from ``spans(pair, interval) -> (start, end)``, written by
    ``workers`` processes, or by this one for fewer than ``parallel_rows`` rows (a process costs a second to
    start); returns what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(out_dir, p, {i: spans(p, i) for i in INTERVALS}, part) for p in pairs]
    total = Written()
    if workers <= 1 or expected_rows(pairs, spans) < parallel_rows:
        for job in jobs:
            total += _write_pair(*job)
        return total
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for written in pool.map(_write_pair, *zip(*jobs, strict=True), chunksize=1):
            total += written
    return total


def write_archive(out_dir: Path, pairs: list[Pair], end: int, *, scale: float = 1.0, workers: int = 2) -> Written:
    """The complete archive ending at ``end`` (Unix seconds, a day boundary); ``scale`` shortens every depth."""
    return write_files(out_dir, pairs, lambda p, i: (archive_start(p, i, end, scale), end), part=0,
                       workers=workers)


def write_update(out_dir: Path, pairs: list[Pair], start: int, end: int, *, part: int, workers: int = 2) -> Written:
    """An update: every series' candles in [start, end), one file each (``part`` >= 1 seeds its draws)."""
    return write_files(out_dir, pairs, lambda p, i: (start, end), part=part, workers=workers)
