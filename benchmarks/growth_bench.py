"""Growth benchmark: a store filled in 4 runs of 30 pairs, then a quarterly update, then the read side.

120 pairs x 7 intervals (30 days of 1-minute, 120 days of 5-minute, 1 year of 15-minute, 2 years hourly,
4 years 4-hour, 6 years 12-hour, 8 years daily candles), ingested by ``ingest_sequential`` in 4 runs of 30
pairs into a fresh QuestDB: rows/s per run (until visible), the CPU of client and server per row and the
cores busy. Then a quarterly update (one more quarter of every series, overlapping the store by 3 days).
The whole sequence runs once per write path (``--paths``: Parquet, then ILP, each into a fresh QuestDB and
catalog, on the same files). Then reads in the first path's grown store: the API's candle query for one
page of 10,000 1-minute candles and for a whole month (43,200), gap detection over every series, and an
export of one 1-minute series.

    .venv/bin/python benchmarks/growth_bench.py [--scale 1.0] [--pairs-per-run 30] [--runs 4]
        [--paths parquet,ilp] [--partition-by MONTH] [--sync] [--keep]

``--scale 0.05`` shortens every series to 5% of its days, for a quick check.

``--one-day`` measures small files instead: a store of ``--pairs`` pairs (600) x 8 intervals (1 to 1440
minutes) of some history (``--scale`` shortens it), then a one-day update of every series, one small file
per series (about 1,900 rows a pair, 6 hours of it overlapping the store), ingested as loose files and as
one zip of members (``--repeat`` times each, in turn; the zip again with ``--rescan``): rows/s of the update
(the whole command, until every row is visible) and the wall time per file. Only the first loose run meets
a store without the update; every later run applies the same day again (each of its candles compared with
a stored one, none changed).

    .venv/bin/python benchmarks/growth_bench.py --one-day [--pairs 600] [--repeat 1] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, timedelta
from pathlib import Path

from common import REPO, env_for, import_dir_of, loadavg, manage, measure, set_layout, start_questdb

from feefifofunds.samples import Spec, generate
from feefifofunds.store import server

SPECS = (Spec(1, 30), Spec(5, 120), Spec(15, 365), Spec(60, 730), Spec(240, 1460), Spec(720, 2190), Spec(1440, 2920))
QUARTER_DAYS, OVERLAP_DAYS = 90, 3
# --one-day: the store's history per interval (Kraken's eight), then one day of every series.
ONE_DAY_HISTORY = (Spec(1, 2), Spec(5, 7), Spec(15, 14), Spec(30, 30), Spec(60, 60), Spec(240, 120),
                   Spec(720, 365), Spec(1440, 730))
ONE_DAY_OVERLAP_HOURS = 6
# The store ends a quarter ago, so the update ends yesterday (the job refuses unfinished candles).
END = (int(time.time()) // 86400 - QUARTER_DAYS - 1) * 86400


def scaled(specs, scale: float) -> tuple[Spec, ...]:
    return tuple(Spec(s.interval_minutes, max(1, round(s.days * scale))) for s in specs)


def make_pairs(out: Path, first: int, count: int, specs, end: int, seed: int) -> tuple[int, int]:
    files = rows = 0
    for i in range(first, first + count):
        quote = "EUR" if i % 4 == 3 else "USD"
        f, r = generate(out, bases=(f"GR{i:03d}",), quotes=(quote,), specs=specs, end=end, seed=seed + i)
        files, rows = files + f, rows + r
    return files, rows


def link_copy(source: Path, data: Path) -> None:
    """``data`` as a fresh folder of hard links to ``source``'s files (the run moves them away)."""
    shutil.rmtree(data.parent / "ingested", ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    for f in source.iterdir():
        os.link(f, data / f.name)


def ingest(env, source: Path, proc, label: str, rows: int) -> float:
    """One ``ingest_sequential`` of a copy (hard links) of ``source``."""
    data = source.parent / "data"
    link_copy(source, data)
    with measure(proc.pid) as reading:
        manage(env, "ingest_sequential", "--data-dir", str(data), "--yes")
    rate = rows / reading.wall
    print(f"{label}: {rows:,} rows in {reading.wall:.1f} s = {rate:,.0f} rows/s ({reading.per_row(rows)})", flush=True)
    return rate


def one_day(args) -> int:
    """``--one-day``: the store, then the one-day update as loose files and as a zip (module docstring)."""
    import zipfile

    work = Path(tempfile.mkdtemp(prefix="fff-oneday-"))
    day = int(time.time()) // 86400 * 86400 - 86400  # yesterday (UTC): every candle of it is finished
    history = work / "history" / "source"
    update = work / "update" / "source"
    hist_rows = upd_rows = files = 0
    t0 = time.perf_counter()
    for i in range(args.pairs):
        quote = "EUR" if i % 4 == 3 else "USD"
        base = f"OD{i:04d}"
        _, r = generate(history, bases=(base,), quotes=(quote,), specs=scaled(ONE_DAY_HISTORY, args.scale),
                        end=day + ONE_DAY_OVERLAP_HOURS * 3600, seed=2000 + i)
        hist_rows += r
        f, r = generate(update, bases=(base,), quotes=(quote,), specs=tuple(Spec(s.interval_minutes, 1)
                                                                                for s in ONE_DAY_HISTORY),
                        end=day + 86400, seed=9000 + i)
        files, upd_rows = files + f, upd_rows + r
    zpath = work / "zipped" / "Kraken_OHLCVT_1D.zip"
    zpath.parent.mkdir(parents=True)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(update.iterdir()):
            zf.write(f, f"{zpath.stem}/{f.name}")
    print(f"one-day update: {args.pairs} pairs x {len(ONE_DAY_HISTORY)} intervals, store of {hist_rows:,} rows, "
          f"update {upd_rows:,} rows in {files:,} files ({ONE_DAY_OVERLAP_HOURS} h of overlap; generated in "
          f"{time.perf_counter() - t0:.1f} s)", flush=True)
    root = work / "questdb"
    proc, ports = start_questdb(root, sync=args.sync)
    try:
        env = env_for(ports, work / "catalog.sqlite3", import_dir=import_dir_of(root))
        manage(env, "migrate", "--no-input", "-v", "0")
        ingest(env, history, proc, "store", hist_rows)
        data = work / "run" / "data"
        for n in range(args.repeat):
            for label, source in (("loose files", update), ("zip", zpath.parent)):
                link_copy(source, data)
                again = ["--rescan", zpath.name] if label == "zip" and n else []
                with measure(proc.pid) as reading:
                    manage(env, "ingest_sequential", "--data-dir", str(data), "--yes", *again)
                print(f"one-day update, {label}: {upd_rows:,} rows in {files:,} files, {reading.wall:.1f} s = "
                      f"{upd_rows / reading.wall:,.0f} rows/s, {reading.wall / files * 1000:.2f} ms per file "
                      f"({reading.per_row(upd_rows)}; target 200,000 rows/s)", flush=True)
    finally:
        server.stop(proc.pid)
        shutil.rmtree(root, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def read_side(env: dict[str, str], work: Path) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from feefifofunds.export import ExportRequest, export_prices
    from feefifofunds.gaps.detection import detect_gaps
    from feefifofunds.models import Asset
    from feefifofunds.store import client, coverage

    asset = Asset.objects.get(ticker="GR000")
    client.wait_for_wal("assetprice")
    first = client.query("SELECT min(time), max(time) FROM assetprice WHERE asset_id = %s AND interval_minutes = 1",
                         [asset.pk])[0]
    start = first[0].replace(tzinfo=UTC)
    page_s, page = timed(lambda: coverage.candles(asset.pk, 1, "USD", source="kraken", start=start, limit=10_000))
    month_end = first[1].replace(tzinfo=UTC)
    month_s, month = timed(lambda: coverage.candles(asset.pk, 1, "USD", source="kraken",
                                                    start=month_end - timedelta(days=30), end=month_end,
                                                    limit=43_200))
    print(f"API candle query, one page of {len(page):,} 1-minute candles: {page_s * 1000:.0f} ms (median of 5, "
          f"target < 50 ms) [load {loadavg()}]")
    print(f"API candle query, a month ({len(month):,} 1-minute candles): {month_s * 1000:.0f} ms (median of 5, "
          f"target < 100 ms) [load {loadavg()}]")
    gaps_s, gaps = timed(detect_gaps, repeat=3)
    print(f"gap detection over the whole growth store: {len(gaps):,} gaps, {gaps_s:.2f} s (median of 3) "
          f"[load {loadavg()}]")
    out = work / "export.parquet"
    export_s, n = timed(lambda: export_prices(ExportRequest("GR000", 1, "USD"), out), repeat=3)
    print(f"export of one 1-minute series ({n:,} candles, Parquet): {export_s:.2f} s (median of 3) [load {loadavg()}]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of every series' days")
    parser.add_argument("--pairs-per-run", type=int, default=30)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--paths", default="parquet,ilp", help="write paths to run (default: parquet,ilp)")
    parser.add_argument("--partition-by", help="re-create assetprice with this partitioning first (compare layouts)")
    parser.add_argument("--sync", action="store_true", help="durable commits (QDB_CAIRO_COMMIT_MODE=sync)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--one-day", action="store_true", help="the small-file benchmark (module docstring)")
    parser.add_argument("--pairs", type=int, default=600, help="--one-day: pairs in the store and the update")
    parser.add_argument("--repeat", type=int, default=1, help="--one-day: runs of each input, in turn")
    args = parser.parse_args()
    if args.one_day:
        return one_day(args)

    work = Path(tempfile.mkdtemp(prefix="fff-growth-"))
    specs = scaled(SPECS, args.scale)
    runs = []
    for r in range(args.runs):
        data = work / f"run{r + 1}" / "source"
        files, rows = make_pairs(data, r * args.pairs_per_run, args.pairs_per_run, specs, END, seed=1000)
        runs.append((data, rows))
    pairs = args.runs * args.pairs_per_run
    quarter_specs = scaled(tuple(Spec(s.interval_minutes, QUARTER_DAYS + OVERLAP_DAYS) for s in SPECS), args.scale)
    quarter = work / "quarter" / "source"
    _, quarter_rows = make_pairs(quarter, 0, pairs, quarter_specs, END + QUARTER_DAYS * 86400, seed=5000)
    print(f"growth: {pairs} pairs x {len(specs)} intervals, {sum(r for _, r in runs):,} rows in {args.runs} runs; "
          f"quarterly update {quarter_rows:,} rows (scale {args.scale}, {'sync' if args.sync else 'default'} "
          f"commit mode)", flush=True)

    try:
        paths = [p.strip() for p in args.paths.split(",") if p.strip()]
        for n, path in enumerate(paths):
            root = work / f"questdb-{path}"
            proc, ports = start_questdb(root, sync=args.sync)
            try:
                env = env_for(ports, work / f"catalog-{path}.sqlite3",
                              import_dir=import_dir_of(root) if path == "parquet" else None)
                manage(env, "migrate", "--no-input", "-v", "0")
                if args.partition_by:
                    set_layout(ports, args.partition_by)
                rates = [ingest(env, data, proc, f"{path}: run {i + 1}", rows) for i, (data, rows) in enumerate(runs)]
                print(f"{path}: last run / first run = {rates[-1] / rates[0]:.2f} (target >= 0.8); every run >= 1 M "
                      f"rows/s: {'met' if min(rates) >= 1e6 else 'NOT met'}")
                first_import = sum(r for _, r in runs) / sum(r / rate for (_, r), rate in zip(runs, rates, strict=True))
                update = ingest(env, quarter, proc, f"{path}: quarterly update", quarter_rows)
                print(f"{path}: quarterly update / first import = {update / first_import:.2f} (target >= 1.0)",
                      flush=True)
                if n == 0:
                    read_side(env, work)
            finally:
                server.stop(proc.pid)
                shutil.rmtree(root, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
