"""Benchmark: dashboard and API request times as `make serve` serves them, over a large store.

Starts a throwaway QuestDB and a throwaway catalog (SQLite) in a temporary folder, fills them, starts the
server exactly as `make serve` does (``python -m feefifofunds.web.serve``) and times HTTP requests against it.

Two shapes of store:

- default: ``--series`` hourly series (one asset each) of ``--candles`` candles each, with scattered gaps
  (1,000 x 10,000 = 10 M candles), written through ``PriceWriter``. Timed: the asset list (``/`` and
  ``/api/assets``: the first request after the write, which computes coverage and gap counts once for the
  whole store, then warm) and every call of an asset page (the page, ``/api/assets/<t>``, the chart's
  ``/api/candles`` and ``/api/gaps``) for several assets.
- ``--pairs 150,600``: the archive's shape, pairs x 8 intervals (30 days of 1-minute candles up to 4 years of
  daily ones, ~97 K candles a pair: 600 pairs are ~58 M rows, ~5 GiB in QuestDB) generated as Kraken CSV files
  and loaded with ``ingest_sequential``, growing to each size in turn. Timed at each size: ``/api/candles``
  pages of one series (1-minute pages at the start of its last 30 days, in the middle and at the end,
  resampled pages, an hourly and a daily page), first the request that computes the asset's coverage after
  the write, then warm. The figures of the sizes side by side show whether a page's cost grows with the rows
  already stored.

Each page is also read in the benchmark's own process both ways: as the API reads it (``series_candles``,
window by window) and as one query over the series' range from the page's start (``query_candles``), wall
time and QuestDB's CPU per page; ``--cold N`` reads the pages of N pairs once more each way with QuestDB's
files dropped from the page cache before each read (as for a store larger than memory; QuestDB runs with
idle table readers closed after a second, so nothing keeps its files mapped).

``--compare-with REF`` also serves git ref REF (exported with ``git archive`` into the temporary folder) on
the same store and catalog, times the same URLs on both servers in turns and checks that both answer every
URL alike (resampled volumes up to rounding: QuestDB's parallel SAMPLE BY adds in the order its tasks end).

Targets: asset list under 200 ms, each asset-page call under 100 ms (warm); a page of candles under 50 ms
(the page's share of the request, on top of the request's fixed cost). The machine may be shared: its load
(/proc/loadavg) is printed with the figures. Nothing outside the temporary folder is touched; it is removed
at the end.

    .venv/bin/python benchmarks/requests_bench.py [--series 1000] [--candles 10000] [--repeat 5] [--pages 5]
        [--pairs 150,600] [--compare-with main] [--cold 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from common import REPO, env_for, export, import_dir_of, loadavg, manage, process_cpu, serve, start_questdb

from feefifofunds.samples import Spec, generate
from feefifofunds.store import server

START = datetime(2020, 1, 1, tzinfo=UTC)
# The archive's shape, per pair: the Kraken intervals, finer ones over shorter spans (days).
ARCHIVE_SPECS = (Spec(1, 30), Spec(5, 60), Spec(15, 120), Spec(30, 180), Spec(60, 365), Spec(240, 730),
                 Spec(720, 1095), Spec(1440, 1460))
BATCH_PAIRS = 50  # pairs generated and ingested at once (bounds the CSV files on disk)
# The archive ends yesterday at midnight (the job refuses unfinished candles).
ARCHIVE_END = datetime.fromtimestamp((int(time.time()) // 86400 - 1) * 86400, UTC)


def fill(series: int, candles: int) -> list[str]:
    """Assets in the catalog and their candles in QuestDB; returns the tickers."""
    import polars as pl

    from feefifofunds.ingestion.writer import PriceWriter
    from feefifofunds.models import Asset
    from feefifofunds.sources import CANDLE_SCHEMA
    from feefifofunds.store import client, kept, schema
    from feefifofunds.store.series import SeriesKey

    kept.catch_up("questdb")  # the empty store's kept gaps built before the first write, as a command does
    rng = np.random.default_rng(7)
    assets = Asset.objects.bulk_create(
        [Asset(ticker=f"B{i:04d}", name=f"Bench asset {i}", category="CRYPTO", tier="TIER2") for i in range(series)])
    # One hourly random walk shared by every series; each series drops its own scattered hours (its gaps).
    close = 100.0 + np.cumsum(rng.normal(0, 0.5, candles))
    hours = pl.datetime_range(START, START + timedelta(hours=candles - 1), "1h", eager=True, time_unit="us")
    walk = pl.DataFrame({"time": hours, "close": close}).with_columns(
        open=pl.col("close").shift(1, fill_value=100.0), volume=pl.lit(1.0), trade_count=pl.lit(1, pl.Int64))
    walk = walk.with_columns(
        high=pl.max_horizontal("open", "close") + 0.25, low=pl.min_horizontal("open", "close") - 0.25,
        vwap=(pl.col("open") + pl.col("close")) / 2,
    ).select(list(CANDLE_SCHEMA)).cast(CANDLE_SCHEMA)
    began = time.perf_counter()
    rows = 0
    with PriceWriter("questdb") as writer:
        for asset in assets:
            keep = np.ones(candles, dtype=bool)
            keep[rng.choice(np.arange(1, candles - 1), size=min(candles // 100, 30), replace=False)] = False
            df = walk.filter(pl.Series(keep))
            writer.add(df, SeriesKey(asset.pk, 60, "USD", "kraken"))
            rows += df.height
        writer.flush()
    client.wait_for_wal(schema.TABLE)
    print(f"wrote {rows:,} candles over {series:,} series in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    return [a.ticker for a in assets]


def archive_ticker(i: int) -> str:
    return f"RQ{i:04d}"


def fill_archive(env: dict[str, str], work: Path, first: int, last: int) -> int:
    """Pairs ``first``..``last - 1`` in the archive's shape, as Kraken CSV files ingested by ``ingest_sequential``
    in batches (each batch's files removed once stored); returns the rows."""
    rows = 0
    began = time.perf_counter()
    for lo in range(first, last, BATCH_PAIRS):
        data, done = work / "data", work / "ingested"
        for folder in (data, done):
            shutil.rmtree(folder, ignore_errors=True)
        for i in range(lo, min(last, lo + BATCH_PAIRS)):
            rows += generate(data, bases=(archive_ticker(i),), quotes=("USD",), specs=ARCHIVE_SPECS,
                             end=int(ARCHIVE_END.timestamp()), seed=100 + i)[1]
        manage(env, "ingest_sequential", "--data-dir", str(data), "--yes", "--verbosity", "0")
    for folder in (work / "data", work / "ingested"):
        shutil.rmtree(folder, ignore_errors=True)
    print(f"ingested pairs {first}..{last - 1}: {rows:,} rows in {time.perf_counter() - began:.0f} s", flush=True)
    return rows


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Page:
    """One page of one pair's candles, as the API is asked for it."""

    label: str
    interval: int
    start: datetime | None = None
    cursor: datetime | None = None
    resample: int | None = None
    limit: int = 1000

    def url(self, ticker: str) -> str:
        params = {"ticker": ticker, "interval": self.interval, "quote": "USD", "source": "kraken",
                  "limit": self.limit}
        for name, value in (("start", self.start), ("cursor", self.cursor), ("resample", self.resample)):
            if value is not None:
                params[name] = iso(value) if isinstance(value, datetime) else value
        return "/api/candles?" + urlencode(params)


def archive_pages() -> list[Page]:
    """The candle pages timed for each pair of the archive-shaped store."""
    end = ARCHIVE_END
    month = end - timedelta(days=30)
    return [
        Page("1m, first page of the last 30 days", 1, start=month),
        Page("1m, a page in the middle (cursor)", 1, cursor=end - timedelta(days=15)),
        Page("1m, the chart's last 500", 1, start=end - timedelta(minutes=500), limit=5000),
        Page("1m to 15m, a page", 1, start=month, resample=15),
        Page("1m to 60m, the chart's last 500", 1, start=end - timedelta(hours=500), resample=60, limit=5000),
        Page("60m, the first page", 60),
        Page("60m, the chart's last 500", 60, start=end - timedelta(hours=500), limit=5000),
        Page("1440m, the chart's last 500", 1440, start=end - timedelta(days=500), limit=5000),
        Page("1440m, the whole series", 1440, limit=5000),
    ]


def timed(url: str) -> tuple[float, int, bytes]:
    """Milliseconds, status and body of one GET (an error status is answered, not raised)."""
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=600) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return (time.perf_counter() - began) * 1000, status, body


def report(figures: dict[str, list[float]], target_of) -> None:
    for label, times in figures.items():
        target = target_of(label)
        med = statistics.median(times)
        verdict = "ok" if med < target else "OVER"
        print(f"    {label:52s} {med:8.1f} ms ({max(times):7.1f})  target < {target} ms: {verdict}")


def hourly_run(args, base: str, tickers: list[str]) -> None:
    print(f"store: {args.series:,} series, about {args.series * args.candles:,} candles; {args.repeat} warm "
          "requests per URL, median (max)")
    figures: dict[str, list[float]] = {}

    def run(label: str, url: str, repeat: int) -> None:
        for _ in range(repeat):
            ms, status, _ = timed(base + url)
            if status != 200:
                raise SystemExit(f"{url} answered {status}")
            figures.setdefault(label, []).append(ms)

    ms, _, _ = timed(base + "/api/assets")
    print(f"  first request after the write (/api/assets, fills the cache): {ms:8.1f} ms")
    run("asset list  /", "/", args.repeat)
    run("asset list  /api/assets", "/api/assets", args.repeat)
    step = max(1, len(tickers) // args.pages)
    for t in tickers[::step][:args.pages]:
        run("asset page  /assets/<t>/", f"/assets/{t}/", args.repeat)
        run("asset page  /api/assets/<t>", f"/api/assets/{t}", args.repeat)
        # What the chart asks for: the last 500 candles (one page of up to 5,000) and the gaps of that range.
        query = (f"ticker={t}&interval=60&quote=USD&source=kraken&start=2021-01-01T00:00:00Z"
                 f"&end=2021-01-21T20:00:00Z")
        run("asset page  /api/candles", f"/api/candles?{query}&limit=5000", args.repeat)
        run("asset page  /api/gaps", f"/api/gaps?{query}&limit=1000", args.repeat)
    report(figures, lambda label: 200 if label.startswith("asset list") else 100)


def same_rows(a: list[tuple], b: list[tuple]) -> bool:
    """The same candles: times, prices and counts equal; a sum (resampled volume) equal but for rounding, which
    QuestDB's parallel SAMPLE BY leaves to the order its tasks finish in (one query run twice may differ)."""
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, rel_tol=1e-12))
        for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


def same_answer(a: bytes, b: bytes) -> bool:
    """Two /api/candles answers with the same candles (``same_rows``) and the same everything else."""
    ja, jb = json.loads(a), json.loads(b)
    rows = [[tuple(c.values()) for c in j.pop("candles")] for j in (ja, jb)]
    return ja == jb and same_rows(*rows)


def page_reads(pages: list[Page], tickers: list[str], repeat: int, server_pid: int) -> None:
    """Each page read in this process as the API reads it (``series_candles``, window by window) and as one
    query over the series' range from the page's start (``query_candles``), in turns: wall time and QuestDB's
    CPU per page; both must give the same rows (``same_rows``)."""
    from feefifofunds.models import Asset
    from feefifofunds.store import coverage

    wall: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    same = True
    for t in tickers:
        asset = Asset.objects.get(ticker=t)
        series = coverage.series_coverage(asset_id=asset.pk)
        for page in pages:
            cov = next(c for c in series if c.interval_minutes == page.interval and c.quote_currency == "USD")
            lower = max(x for x in (page.start, page.cursor, cov.first) if x is not None)
            upper = cov.last + timedelta(microseconds=1)
            reads = {
                "windows": lambda cov=cov, page=page: coverage.series_candles(
                    cov, start=page.start, after=page.cursor, resample=page.resample, limit=page.limit + 1),
                "one query": lambda cov=cov, page=page, lower=lower, upper=upper: coverage.query_candles(
                    cov.asset_id, cov.interval_minutes, "USD", cov.source, lower, upper, page.resample,
                    page.limit + 1),
            }
            answers = {}
            for _ in range(repeat):
                for how, read in reads.items():
                    c0, t0 = process_cpu(server_pid), time.perf_counter()
                    answers[how] = read()
                    wall.setdefault(f"{page.label} [{how}]", []).append((time.perf_counter() - t0) * 1000)
                    cpu[f"{page.label} [{how}]"] = cpu.get(f"{page.label} [{how}]", 0.0) + process_cpu(server_pid) - c0
            same &= same_rows(answers["windows"], answers["one query"])
    runs = len(tickers) * repeat
    print("  the page read in this process (QuestDB's CPU per page; wall: median (max)):")
    for label, times in wall.items():
        print(f"    {label:52s} cpu {cpu[label] / runs * 1000:6.1f} ms  wall {statistics.median(times):7.1f} ms "
              f"({max(times):7.1f})  target < 50 ms: {'ok' if statistics.median(times) < 50 else 'OVER'}")
    print(f"    same rows both ways: {'yes' if same else 'NO'}")


# QuestDB closes a table reader idle this long (milliseconds), unmapping its files (default: 2 minutes), so
# the page cache can drop them (``Store.cold``).
READER_TTL_MS = 1000


def evict(folder: Path) -> int:
    """Drop the files under ``folder`` from the page cache (written back first); returns their bytes. Pages a
    process maps stay."""
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                total += os.fstat(fd).st_size
            finally:
                os.close(fd)
    return total


@dataclass
class Store:
    """The benchmark's QuestDB: where its files are and its process."""

    root: Path
    proc: subprocess.Popen

    def cold(self) -> int:
        """None of QuestDB's files in the page cache (as for a store larger than memory), QuestDB itself warm:
        once its idle readers are closed (READER_TTL_MS, checked as often), the files are dropped; returns
        their bytes."""
        time.sleep(4 * READER_TTL_MS / 1000)
        return evict(self.root)


def cold_reads(pages: list[Page], tickers: list[str], store: Store) -> None:
    """Each page read once each way (as in ``page_reads``) with QuestDB's files out of the page cache: what a
    read costs when the store does not fit in memory."""
    from feefifofunds.models import Asset
    from feefifofunds.store import coverage

    wall: dict[str, list[float]] = {}
    dropped = 0
    for t in tickers:
        series = coverage.series_coverage(asset_id=Asset.objects.get(ticker=t).pk)
        for page in pages:
            cov = next(c for c in series if c.interval_minutes == page.interval and c.quote_currency == "USD")
            lower = max(x for x in (page.start, page.cursor, cov.first) if x is not None)
            for how in ("windows", "one query"):
                dropped = store.cold()
                t0 = time.perf_counter()
                if how == "windows":
                    coverage.series_candles(cov, start=page.start, after=page.cursor, resample=page.resample,
                                            limit=page.limit + 1)
                else:
                    coverage.query_candles(cov.asset_id, cov.interval_minutes, "USD", cov.source, lower,
                                           cov.last + timedelta(microseconds=1), page.resample, page.limit + 1)
                wall.setdefault(f"{page.label} [{how}]", []).append((time.perf_counter() - t0) * 1000)
    print(f"  the page read cold in this process (QuestDB's {dropped / 2**30:.1f} GiB of files out of the page cache "
          "before each read; wall: median (max)):")
    for label, times in wall.items():
        print(f"    {label:52s} {statistics.median(times):8.1f} ms ({max(times):7.1f})")


def archive_run(args, bases: dict[str, str], logs: dict[str, Path], pairs: int, rows: int,
                store: Store) -> None:
    """The candle pages of ``--pages`` pairs spread over the store: read in this process both ways, then
    requested from every server in turns."""

    def failed(name: str, url: str, status: int):
        raise SystemExit(f"{name}: {url} answered {status}; its server's log ends:\n"
                         f"{logs[name].read_text()[-3000:]}")

    tickers = [archive_ticker(i) for i in range(0, pairs, max(1, pairs // args.pages))][:args.pages]
    pages = archive_pages()
    print(f"store: {pairs} pairs x {len(ARCHIVE_SPECS)} intervals, {rows:,} rows; pairs {', '.join(tickers)}; "
          f"{args.repeat} runs of each [load {loadavg()}]", flush=True)
    first: dict[str, list[float]] = {name: [] for name in bases}
    figures: dict[str, list[float]] = {}
    differ: list[str] = []
    for t in tickers:
        urls = [page.url(t) for page in pages]
        bodies: dict[str, dict[str, bytes]] = {name: {} for name in bases}
        for name, base in bases.items():  # the asset's first request after the write computes its coverage
            ms, status, body = timed(base + urls[0])
            if status != 200:
                failed(name, urls[0], status)
            first[name].append(ms)
        for _ in range(args.repeat):
            for page, url in zip(pages, urls, strict=True):
                for name, base in bases.items():
                    ms, status, body = timed(base + url)
                    if status != 200:
                        failed(name, url, status)
                    figures.setdefault(f"{page.label} [{name}]" if len(bases) > 1 else page.label, []).append(ms)
                    bodies[name][url] = body
        if len(bases) > 1:
            (mine, *others) = bodies.values()
            differ += [url for other in others for url in mine if not same_answer(mine[url], other[url])]
    page_reads(pages, tickers, args.repeat, store.proc.pid)
    print("  /api/candles as served (median (max)):")
    for name, times in first.items():
        print(f"    first request of an asset after the write ({name}): {statistics.median(times):.1f} ms")
    report(figures, lambda label: 100)
    if len(bases) > 1:
        print(f"    same answers on every server: {'yes' if not differ else 'NO: ' + ', '.join(differ[:5])}")
    if args.cold:
        cold_reads(pages, tickers[:args.cold], store)
    print(f"  [load {loadavg()}]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000, help="assets, one hourly series each")
    parser.add_argument("--candles", type=int, default=10_000, help="candles per series")
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per URL (median reported)")
    parser.add_argument("--pages", type=int, default=5, help="asset pages (pairs) timed")
    parser.add_argument("--pairs", help="archive-shaped store grown to each of these sizes, e.g. 150,600")
    parser.add_argument("--compare-with", metavar="REF", help="also serve this git ref on the same store (e.g. main)")
    parser.add_argument("--cold", type=int, default=0, metavar="N",
                        help="also read the pages of N pairs cold (QuestDB's files out of the page cache before "
                             "each read)")
    args = parser.parse_args()
    sizes = sorted({int(p) for p in args.pairs.split(",")}) if args.pairs else []

    root = Path(tempfile.mkdtemp(prefix="fff-requests-bench-"))
    store: Store | None = None
    webs: list[subprocess.Popen] = []
    try:
        print(f"loadavg before: {loadavg()}")
        os.environ.update(QDB_CAIRO_INACTIVE_READER_TTL=str(READER_TTL_MS),
                          QDB_CAIRO_IDLE_CHECK_INTERVAL=str(READER_TTL_MS))
        qdb, ports = start_questdb(root / "questdb")
        store = Store(root / "questdb", qdb)
        env = env_for(ports, root / "catalog.sqlite3", import_dir=import_dir_of(root / "questdb"))
        env.pop("DJANGO_SECRET_KEY", None)
        env.update(FEEFIFOFUNDS_STATE_DIR=str(root / "state"), FEEFIFOFUNDS_STAGING_MAX_BYTES=str(1 << 30))
        manage(env, "migrate", "--no-input", "--verbosity", "0")
        os.environ.update(env)
        import django

        django.setup()
        tickers = fill(args.series, args.candles) if not sizes else []
        checkouts = {"this checkout": REPO}
        if args.compare_with:
            checkouts[args.compare_with] = export(args.compare_with, root / "compare")
        bases, logs = {}, {}
        for n, (name, checkout) in enumerate(checkouts.items()):
            logs[name] = root / f"serve-{n}.log"
            # A state folder (cache, static files) of its own per server.
            web, bases[name] = serve({**env, "FEEFIFOFUNDS_STATE_DIR": str(root / f"state-{n}")}, logs[name],
                                     checkout=checkout)
            webs.append(web)
        if not sizes:
            hourly_run(args, bases["this checkout"], tickers)
        stored = rows = 0
        for size in sizes:
            rows += fill_archive(env, root, stored, size)
            stored = size
            archive_run(args, bases, logs, size, rows, store)
        print(f"loadavg after: {loadavg()}")
    finally:
        for web in webs:
            web.terminate()
            web.wait(timeout=30)
        if store is not None:
            server.stop(store.proc.pid)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
