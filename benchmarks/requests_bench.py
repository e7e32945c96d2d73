"""Benchmark: dashboard and API request times as `make serve` serves them, over a large store.

Starts a throwaway QuestDB and a throwaway catalog (SQLite) in a temporary folder, fills them with
``--series`` hourly series (one asset each) of ``--candles`` candles each, with scattered gaps (default
1,000 x 10,000 = 10 M candles), starts the server exactly as `make serve` does
(``python -m feefifofunds.web.serve``) and times HTTP requests against it:

- the asset list (``/`` and ``/api/assets``): the first request after the write (which computes coverage
  and gap counts once for the whole store) and then warm (cached until the next write);
- every call of an asset page: the page itself, ``/api/assets/<t>``, the chart's ``/api/candles`` and
  ``/api/gaps``, for several assets.

Targets: asset list under 200 ms, each asset-page call under 100 ms (warm). The machine may be shared:
/proc/loadavg is printed before and after. Nothing outside the temporary folder is touched.

    .venv/bin/python benchmarks/requests_bench.py [--series 1000] [--candles 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from common import REPO, serve

START = datetime(2020, 1, 1, tzinfo=UTC)


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def fill(series: int, candles: int) -> list[str]:
    """Assets in the catalog and their candles in QuestDB; returns the tickers."""
    import polars as pl

    from feefifofunds.ingestion.writer import PriceWriter
    from feefifofunds.models import Asset
    from feefifofunds.sources import CANDLE_SCHEMA
    from feefifofunds.store import client, schema
    from feefifofunds.store.series import SeriesKey

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


def timed(url: str) -> tuple[float, int, int]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
        status = response.status
    return (time.perf_counter() - began) * 1000, status, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000, help="assets, one hourly series each")
    parser.add_argument("--candles", type=int, default=10_000, help="candles per series")
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per URL (median reported)")
    parser.add_argument("--pages", type=int, default=5, help="asset pages timed")
    args = parser.parse_args()

    from feefifofunds.store import server

    root = Path(tempfile.mkdtemp(prefix="fff-requests-bench-"))
    qdb = None
    web = None
    try:
        print(f"loadavg before: {loadavg()}")
        ports = server.Ports.free()
        jar = server.ensure_jar(REPO / ".state" / "questdb" / "jars")
        qdb = server.start(root / "questdb", ports, jar, heap="2g")
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SECRET_KEY")}
        env.update(FEEFIFOFUNDS_STATE_DIR=str(root / "state"), QUESTDB_HOST="127.0.0.1",
                   QUESTDB_HTTP_PORT=str(ports.http), QUESTDB_PG_PORT=str(ports.pg), QUESTDB_ILP_PORT=str(ports.ilp),
                   DJANGO_SETTINGS_MODULE="feefifofunds_project.settings")
        os.environ.clear()
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        tickers = fill(args.series, args.candles)

        web, base = serve(env, root / "serve.log")

        total = args.series * args.candles
        print(f"store: {args.series:,} series, about {total:,} candles; {args.repeat} warm requests per URL, "
              "median (max)")
        figures: dict[str, list[float]] = {}

        def run(label: str, url: str, repeat: int) -> None:
            times = []
            for _ in range(repeat):
                ms, status, size = timed(base + url)
                if status != 200:
                    raise SystemExit(f"{url} answered {status}")
                times.append(ms)
            figures.setdefault(label, []).extend(times)

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
        for label, times in figures.items():
            target = 200 if label.startswith("asset list") else 100
            med = statistics.median(times)
            verdict = "ok" if med < target else "OVER"
            print(f"  {label:30s} {med:8.1f} ms ({max(times):7.1f})  target < {target} ms: {verdict}")
        print(f"loadavg after: {loadavg()}")
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=30)
        if qdb is not None:
            server.stop(qdb.pid)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
