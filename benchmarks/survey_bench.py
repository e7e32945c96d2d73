"""Benchmark: the daily gap survey (``backfill_kraken_gaps --dry-run``) over a store with many gap runs.

Starts a throwaway QuestDB and catalog (SQLite) in a temporary folder and a fake Kraken answering
AssetPairs (``tests/support/fake_kraken.py``), writes ``--series`` Kraken series through ``PriceWriter``
(pairs of 1-minute candles for 30 days, hourly for a year and daily for four, each series with
``--gaps-per-series`` holes at random and ending forty days ago: a trailing gap each, of a delisted pair), then
times ``manage.py backfill_kraken_gaps --dry-run`` as a user runs it. ``--compare-with REF`` also times the
command of that git ref (exported with ``git archive`` into the temporary folder) on the same store and
checks that both plan the same (the PLAN lines and the totals of every report section). Everything is
removed afterwards.

    .venv/bin/python benchmarks/survey_bench.py [--series 300] [--gaps-per-series 200] [--compare-with main]
                                                [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from common import REPO, env_for, export, loadavg, manage, run_child, start_questdb

INTERVALS = {1: 30 * 1440, 60: 365 * 24, 1440: 4 * 365}  # candles per series of each interval
# Forty days back, so a minute between two runs moves no gap across an OHLC window (its 720 1-minute or
# hourly candles); the pairs are listed as delisted, so the trailing gaps are reported but not planned.
END = (datetime.now(UTC) - timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)


def fill(series: int, gaps: int) -> tuple[int, int, list[str]]:
    """Assets in the catalog and their candles in QuestDB; returns (rows, holes, tickers)."""
    import polars as pl

    from feefifofunds.ingestion.writer import PriceWriter
    from feefifofunds.models import Asset
    from feefifofunds.sources import CANDLE_SCHEMA
    from feefifofunds.store import client, schema
    from feefifofunds.store.series import SeriesKey

    rng = np.random.default_rng(20)
    pairs = -(-series // len(INTERVALS))
    assets = Asset.objects.bulk_create(
        [Asset(ticker=f"S{i:04d}", name=f"Survey asset {i}", category="CRYPTO", tier="TIER2") for i in range(pairs)])
    rows = holes = written = 0
    with PriceWriter("questdb") as writer:
        for asset in assets:
            for interval, count in INTERVALS.items():
                if written == series:
                    break
                keep = np.ones(count, dtype=bool)
                at = rng.choice(np.arange(1, count - 40), size=min(gaps, count // 50), replace=False)
                for start in at:
                    keep[start:start + int(rng.integers(1, 4))] = False
                holes += len(at)
                idx = np.nonzero(keep)[0].astype(np.int64)
                seconds = int(END.timestamp()) - (count - idx) * interval * 60
                price = 100.0 + rng.random(len(idx))
                df = pl.DataFrame({
                    "time": pl.from_epoch(pl.Series(seconds), time_unit="s").dt.replace_time_zone("UTC"),
                    "open": price, "high": price + 1, "low": price - 1, "close": price, "volume": np.ones(len(idx)),
                    "trade_count": rng.integers(1, 50 * interval, len(idx)), "vwap": price,
                }).cast(CANDLE_SCHEMA)
                writer.add(df, SeriesKey(asset.pk, interval, "USD", "kraken"))
                rows += df.height
                written += 1
        writer.flush()
    client.wait_for_wal(schema.TABLE)
    return rows, holes, [a.ticker for a in assets]


def survey(checkout: Path, env: dict[str, str]) -> tuple[float, list[str], list[str], int]:
    """Seconds of one dry run of the checkout's command, its PLAN lines, the totals of the report's sections
    and the size of its report (characters)."""
    began = time.perf_counter()
    run = run_child([sys.executable, str(checkout / "manage.py"), "backfill_kraken_gaps", "--dry-run"], env)
    elapsed = time.perf_counter() - began
    if run.returncode != 0:
        raise SystemExit(f"backfill_kraken_gaps --dry-run failed ({run.returncode}):\n{run.stderr[-3000:]}")
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "PLAN")
    plan = [line for line in lines[start + 2:] if line.startswith("  ")]
    totals = [line for line in lines if line.startswith("Summary:")]  # each report section's totals
    return elapsed, plan, totals, len(run.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=300, help="Kraken series (1, 60 and 1440 minutes per pair)")
    parser.add_argument("--gaps-per-series", type=int, default=200, help="holes written into each series")
    parser.add_argument("--compare-with", metavar="REF", help="also time this git ref's command (e.g. main)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command, taking turns (best reported)")
    args = parser.parse_args()

    from tests.support.fake_kraken import FakeKraken

    root = Path(tempfile.mkdtemp(prefix="fff-survey-bench-"))
    qdb, fake = None, None
    try:
        print(f"loadavg before: {loadavg()}")
        qdb, ports = start_questdb(root / "questdb")
        fake = FakeKraken(datetime.now(UTC))
        fake.start()
        env = env_for(ports, root / "catalog.sqlite3")
        env.update(FEEFIFOFUNDS_STATE_DIR=str(root / "state"), KRAKEN_API_URL=fake.url,
                   KRAKEN_API_RATE_PER_SECOND="1")
        (root / "state").mkdir()
        manage(env, "migrate", "--verbosity", "0")
        os.environ.update(env)
        import django

        django.setup()
        began = time.perf_counter()
        rows, holes, tickers = fill(args.series, args.gaps_per_series)
        for ticker in tickers:
            fake.add_pair(f"{ticker}USD", f"{ticker}USD", f"{ticker}/USD", status="delisted")
        print(f"store: {args.series:,} series, {rows:,} candles, {holes:,} holes written "
              f"({time.perf_counter() - began:.1f} s)")

        from feefifofunds.store import client

        client.query("SELECT count(), sum(trade_count), max(time) FROM assetprice")  # the store read once, untimed
        checkouts = {"this checkout": REPO}
        if args.compare_with:
            checkouts[args.compare_with] = export(args.compare_with, root / "compare")
        results: dict[str, tuple] = {}
        times: dict[str, list[float]] = {name: [] for name in checkouts}
        for _ in range(args.repeat):
            for name, checkout in checkouts.items():
                results[name] = survey(checkout, env)
                times[name].append(results[name][0])
        for name in checkouts:
            _, plan, totals, size = results[name]
            runs = ", ".join(f"{t:.1f}" for t in times[name])
            print(f"  {name:>14}: backfill_kraken_gaps --dry-run {min(times[name]):7.1f} s (runs: {runs} s), "
                  f"report {size / 1024:,.0f} KiB")
            for text in plan + totals:
                print(f"  {'':>14}  {text.strip()}")
        if args.compare_with:
            (_, plan, totals, _), (_, other_plan, other_totals, _) = results.values()
            same = (plan, totals) == (other_plan, other_totals)
            print(f"  same plan and report totals: {'yes' if same else 'NO'}")
        print(f"loadavg after: {loadavg()}")
    finally:
        if fake is not None:
            fake.stop()
        if qdb is not None:
            from feefifofunds.store import server

            server.stop(qdb.pid)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
