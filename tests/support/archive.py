"""Build Kraken OHLCVT archive files for tests: real excerpts (tests/fixtures/kraken) and generated series."""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "feefifofunds" / "samples" / "kraken"


def copy_real_samples(data_dir: Path) -> list[Path]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, data_dir / p.name)) for p in sorted(FIXTURES.glob("*.csv"))]


def candle_lines(interval_minutes: int, count: int, *, start: int = 1_700_006_400, price: float = 100.0,
                 skip: set[int] = frozenset()) -> list[str]:
    """``count`` aligned candles (minus the indexes in ``skip``: no-trade intervals) as archive lines."""
    step = interval_minutes * 60
    start -= start % step
    lines = []
    for i in range(count):
        if i in skip:
            continue
        o = price + i * 0.5
        lines.append(f"{start + i * step},{o},{o + 2.25},{o - 1.125},{o + 0.75},{10 + i * 0.001:.6f},{i % 50 + 1}")
    return lines


def write_file(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path
