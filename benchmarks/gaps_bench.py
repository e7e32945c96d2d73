"""Benchmark: gap detection over 1,000 hourly Kraken series of one year each (about 8.7 M candles).

Runs against the QuestDB of the settings (alias ``questdb``; start one with
``.venv/bin/python -m feefifofunds.store.server start``). Writes into its own table ``assetprice_gapbench``
(same DDL as ``assetprice``), times ``detect_gaps`` over it, prints
``gap detection: N series, M gaps, X.XX s`` and drops the table. Nothing else is touched.

    .venv/bin/python benchmarks/gaps_bench.py [--series 1000] [--keep]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feefifofunds_project.settings")

import django  # noqa: E402

django.setup()

from feefifofunds.gaps.detection import detect_gaps  # noqa: E402
from feefifofunds.ingestion.writer import PriceWriter  # noqa: E402
from feefifofunds.sources import CANDLE_SCHEMA  # noqa: E402
from feefifofunds.store import client, schema  # noqa: E402
from feefifofunds.store.series import SeriesKey  # noqa: E402

TABLE = "assetprice_gapbench"
FIRST_ASSET_ID = 900_000
HOURS = 365 * 24
START = datetime(2024, 1, 1, tzinfo=UTC)


def series_frame(rng: np.random.Generator) -> tuple[pl.DataFrame, int]:
    """One year of hourly candles with scattered gaps: single hours, a few multi-hour runs, a missing day."""
    keep = np.ones(HOURS, dtype=bool)
    keep[rng.choice(HOURS, size=int(rng.integers(5, 40)), replace=False)] = False
    for _ in range(int(rng.integers(0, 4))):
        at = int(rng.integers(0, HOURS - 30))
        keep[at:at + int(rng.integers(2, 30))] = False
    keep[0] = keep[-1] = True
    idx = np.nonzero(keep)[0]
    gaps = int(np.count_nonzero(np.diff(idx) > 1))
    seconds = int(START.timestamp()) + idx.astype(np.int64) * 3600
    price = 100.0 + rng.random(len(idx))
    df = pl.DataFrame({
        "time": pl.from_epoch(pl.Series(seconds), time_unit="s").dt.replace_time_zone("UTC"),
        "open": price, "high": price + 1, "low": price - 1, "close": price,
        "volume": np.ones(len(idx)), "trade_count": np.ones(len(idx), dtype=np.int64), "vwap": price,
    }).cast(CANDLE_SCHEMA)
    return df, gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark table afterwards")
    parser.add_argument("--partition-by", default=schema.PARTITION_BY, help="layout of the benchmark table")
    args = parser.parse_args()

    client.execute(f"DROP TABLE IF EXISTS {TABLE}")
    client.execute(schema.create_table_sql(TABLE, args.partition_by))
    rng = np.random.default_rng(42)
    expected = 0
    began = time.perf_counter()
    rows = 0
    try:
        with PriceWriter(table=TABLE) as writer:
            for i in range(args.series):
                df, gaps = series_frame(rng)
                expected += gaps
                rows += df.height
                writer.add(df, SeriesKey(FIRST_ASSET_ID + i, 60, "USD", "kraken"))
            # Explicit, so every candle is acknowledged whatever the writer version does on exit.
            writer.flush()
        client.wait_for_wal(TABLE)
        print(f"wrote {rows:,} candles in {time.perf_counter() - began:.1f} s", file=sys.stderr)

        began = time.perf_counter()
        found = detect_gaps(table=TABLE)
        elapsed = time.perf_counter() - began
        series = len({g.series for g in found})
        if len(found) != expected:
            print(f"warning: expected {expected} gaps, found {len(found)}", file=sys.stderr)
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        print(f"gap detection: {args.series:,} series, {len(found):,} gaps, {elapsed:.2f} s"
              f"  ({series:,} series with gaps; {args.partition_by} partitions; load {load})")
    finally:
        if not args.keep:
            client.execute(f"DROP TABLE IF EXISTS {TABLE}")


if __name__ == "__main__":
    main()
