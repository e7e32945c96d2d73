"""Benchmark of the main job: `ingest_sequential` on a synthetic archive (>= 5 million rows).

Starts a throwaway QuestDB (fresh data directory, free loopback ports) and a throwaway SQLite catalog, so
every run measures the same thing. Prints:
  - end to end: the command from start until every row is visible in QuestDB (rows/s),
  - from a zip: the same files as one ZIP (deflate, as Kraken ships them), ingested the same way into a
    fresh QuestDB and catalog, its rows/s and the ratio to the loose files (target >= 0.9x), and what
    inflating alone costs per row,
  - reference (a): one ``Sender.row()`` call per candle over ILP/HTTP, on the same files (time-boxed),
  - reference (b): parsing the CSVs alone (polars, chunked, validated, as the job does),
  - peak memory (max RSS) of each ingest process,
  - the CPU of the ingest process and of QuestDB per row, and the machine's load while measuring.

    .venv/bin/python benchmarks/ingest_bench.py [--rows-target 5000000] [--row-loop-seconds 60] [--sync]
        [--partition-by MONTH] [--questdb-root DIR] [--no-zip] [--keep]

``--rows-target 300000 --row-loop-seconds 0`` is a quick check; ``--sync`` measures durable commits
(QDB_CAIRO_COMMIT_MODE=sync).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from common import REPO, count_rows, env_for, loadavg, measure, set_layout, start_questdb

from feefifofunds.samples import Spec, generate
from feefifofunds.store import server

BENCH_SPECS = (Spec(1, 45), Spec(5, 200), Spec(15, 365), Spec(60, 730), Spec(240, 1460), Spec(720, 1460),
               Spec(1440, 3000))


def parse_only(files: list[Path]) -> tuple[int, float]:
    from feefifofunds.sources import kraken_archive as archive

    started = time.perf_counter()
    rows = 0
    for f in files:
        interval = int(f.stem.rsplit("_", 1)[1])
        for first_line, df, _ in archive.iter_chunks(f):
            archive.check_chunk(f, first_line, df, interval)
            rows += df.height
    return rows, time.perf_counter() - started


def make_zip(files: list[Path], zpath: Path) -> float:
    """The files as one deflated ZIP in a folder of the archive's name (as Kraken's releases have)."""
    started = time.perf_counter()
    zpath.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, f"{zpath.stem}/{f.name}")
    return time.perf_counter() - started


def inflate_only(zpath: Path, *, job: bool) -> tuple[int, float]:
    """Inflating every member (and checking its CRC-32), nothing else: what reading from a zip adds; ``job``:
    the job's reader (ISA-L), else zipfile's (zlib)."""
    from feefifofunds.sources.kraken_zip import ZipReader, list_zip

    started = time.perf_counter()
    nbytes = 0
    listing = list_zip(zpath, zpath.parent)
    reader = ZipReader(listing.path, listing.infos)
    with zipfile.ZipFile(zpath) as zf:
        for f in listing.members:
            with reader.open(f) if job else zf.open(listing.infos[f.member]) as fh:
                while block := fh.read(16 * 2**20):
                    nbytes += len(block)
    reader.close()
    return nbytes, time.perf_counter() - started


def prepare(ports: server.Ports, catalog: Path, partition_by: str | None) -> dict[str, str]:
    """A migrated catalog for a fresh QuestDB; the command's environment."""
    env = env_for(ports, catalog)
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=REPO, env=env, check=True)
    if partition_by:
        set_layout(ports, partition_by)
    return env


def ingest(env: dict[str, str], data: Path, questdb_pid: int):
    """The command, measured; its own peak memory (each run apart). Returns (reading, peak MiB, output)."""
    with measure(questdb_pid) as reading, tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "ingest_sequential", "--data-dir", str(data), "--yes"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"ingest_sequential failed ({proc.returncode}):\n{text[-3000:]}")
    return reading, usage.ru_maxrss / 1024, text


def row_loop(files: list[Path], ports: server.Ports, seconds: float) -> tuple[int, float]:
    """The plain approach: csv module + one Sender.row() per candle (auto-flush every 75,000 rows), into a
    table with the same schema and DEDUP, timed until the rows are visible like the end-to-end figure."""
    import psycopg
    from questdb import Sender, TimestampNanos

    from feefifofunds.store import schema

    table = "assetprice_rowloop"
    with psycopg.connect(host="127.0.0.1", port=ports.pg, user="admin", password="quest", dbname="qdb",
                         autocommit=True) as conn:
        conn.execute(schema.create_table_sql(table))
        conn.execute(f"ALTER TABLE {table} DEDUP ENABLE UPSERT KEYS({', '.join(schema.DEDUP_KEYS)})")
    rows = 0
    started = time.perf_counter()
    with Sender.from_conf(f"http::addr=127.0.0.1:{ports.http};") as sender:
        for f in files:
            pair, interval = f.stem.rsplit("_", 1)
            with open(f, newline="") as fh:
                for t, o, h, lo, c, v, n in csv.reader(fh):
                    sender.row(table, symbols={"quote_currency": pair[-3:], "source": "kraken"},
                               columns={"asset_id": 1, "interval_minutes": int(interval), "open": float(o),
                                        "high": float(h), "low": float(lo), "close": float(c),
                                        "volume": float(v), "trade_count": int(n)},
                               at=TimestampNanos(int(t) * 1_000_000_000))
                    rows += 1
            if time.perf_counter() - started > seconds:
                break
        sender.flush()
    with psycopg.connect(host="127.0.0.1", port=ports.pg, user="admin", password="quest", dbname="qdb",
                         autocommit=True) as conn:
        while True:
            writer_txn, sequencer_txn = conn.execute(
                "SELECT writerTxn, sequencerTxn FROM wal_tables() WHERE name = %s", (table,)).fetchone()
            if writer_txn >= sequencer_txn:
                break
            time.sleep(0.05)
    return rows, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows-target", type=int, default=5_000_000)
    parser.add_argument("--row-loop-seconds", type=float, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--sync", action="store_true", help="durable commits (QDB_CAIRO_COMMIT_MODE=sync)")
    parser.add_argument("--partition-by", help="re-create assetprice with this partitioning (compare layouts)")
    parser.add_argument("--no-big-file", action="store_true", help="leave out the 2 M-row file")
    parser.add_argument("--no-zip", action="store_true", help="do not run the same files from a zip")
    parser.add_argument("--questdb-root", type=Path,
                        help="QuestDB data directory (default: inside the temporary directory, on disk); e.g. "
                             "/dev/shm/fff-bench to see how much of the time is the disk")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fff-bench-"))
    try:
        return bench(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            if args.questdb_root:
                shutil.rmtree(args.questdb_root, ignore_errors=True)


def bench(args: argparse.Namespace, work: Path) -> int:
    data = work / "archive" / "data"
    bases = []
    total_rows = files = 0
    t0 = time.perf_counter()
    i = 0
    while total_rows < args.rows_target:  # add pairs until the archive is big enough
        base = f"BX{i:03d}"
        f, r = generate(data, bases=(base,), quotes=("USD",), specs=BENCH_SPECS, seed=i)
        bases.append(base)
        files, total_rows, i = files + f, total_rows + r, i + 1
    # One large file (about 2 million 1-minute candles, >100 MiB) shows that memory stays bounded per file.
    if not args.no_big_file:
        f, r = generate(data, bases=("BIGXBT",), quotes=("USD",), specs=(Spec(1, 1400),), seed=999)
        bases.append("BIGXBT")
        files, total_rows = files + f, total_rows + r
    size = sum(p.stat().st_size for p in data.glob("*.csv"))
    print(f"archive: {files} files, {total_rows:,} rows, {size / 2**20:,.0f} MiB over {len(bases)} pairs "
          f"x {len(BENCH_SPECS)} intervals (generated in {time.perf_counter() - t0:.1f} s)", flush=True)
    all_files = sorted(data.glob("*.csv"))

    parsed, parse_s = parse_only(all_files)
    assert parsed == total_rows
    print(f"(b) parse only:        {parsed / parse_s:>12,.0f} rows/s  ({parse_s:.2f} s)", flush=True)

    qroot = args.questdb_root or work / "questdb"
    print(f"QuestDB {server.QUESTDB_VERSION} data directory: {qroot}, "
          f"{'sync (durable)' if args.sync else 'default'} commit mode", flush=True)
    proc, ports = start_questdb(qroot, sync=args.sync)
    try:
        env = prepare(ports, work / "catalog.sqlite3", args.partition_by)
        reading, peak_mib, _ = ingest(env, data, proc.pid)
        elapsed = reading.wall  # the command returns once every row is visible
        stored = count_rows(ports)
        assert stored == total_rows, (stored, total_rows)
        e2e = total_rows / elapsed
        print(f"end to end:            {e2e:>12,.0f} rows/s  ({elapsed:.2f} s, {stored:,} rows visible)")
        print(f"CPU:                   {reading.per_row(total_rows)}")
        print(f"peak memory (ingest):  {peak_mib:>12,.0f} MiB", flush=True)
        restored = work / "archive" / "ingested" / "ohlcv"
        loop_rate = None
        if args.row_loop_seconds > 0:
            # Same order as the job (coarse intervals first), so both meet the same partition layout.
            ordered = sorted(restored.glob("*.csv"), key=lambda p: (-int(p.stem.rsplit("_", 1)[1]), p.name))
            loop_rows, loop_s = row_loop(ordered, ports, args.row_loop_seconds)
            loop_rate = loop_rows / loop_s
            print(f"(a) Sender.row() loop: {loop_rate:>12,.0f} rows/s  ({loop_rows:,} rows in {loop_s:.1f} s, "
                  f"load {loadavg()})", flush=True)
    finally:
        server.stop(proc.pid)

    zip_rate = zip_peak = None
    if not args.no_zip:
        zpath = work / "zipped" / "data" / "Kraken_OHLCVT.zip"
        zip_s = make_zip(sorted(restored.glob("*.csv")), zpath)
        inflated, inflate_s = inflate_only(zpath, job=True)
        _, zlib_s = inflate_only(zpath, job=False)
        print(f"zip: {zpath.stat().st_size / 2**20:,.0f} MiB deflated from {inflated / 2**20:,.0f} MiB "
              f"(made in {zip_s:.1f} s); inflating alone {inflate_s / total_rows * 1e6:.2f} us/row "
              f"(zipfile's zlib: {zlib_s / total_rows * 1e6:.2f} us/row)", flush=True)
        zroot = work / "questdb-zip"
        proc, ports = start_questdb(zroot, sync=args.sync)
        try:
            env = prepare(ports, work / "catalog-zip.sqlite3", args.partition_by)
            zreading, zip_peak, _ = ingest(env, zpath, proc.pid)
            assert count_rows(ports) == total_rows
            zip_rate = total_rows / zreading.wall
            print(f"end to end from zip:   {zip_rate:>12,.0f} rows/s  ({zreading.wall:.2f} s); "
                  f"{zip_rate / e2e:.2f}x the loose files")
            print(f"CPU (zip):             {zreading.per_row(total_rows)}")
            print(f"peak memory (zip):     {zip_peak:>12,.0f} MiB", flush=True)
        finally:
            server.stop(proc.pid)
            shutil.rmtree(zroot, ignore_errors=True)

    ratios = [f"end-to-end / parse-only = {e2e / (parsed / parse_s):.2f}"]
    targets = [f">= 1,000,000 rows/s end to end [{'met' if e2e >= 1e6 else 'NOT met'}]",
               f"peak < 1 GiB [{'met' if peak_mib < 1024 else 'NOT met'}]"]
    if loop_rate:
        ratios.insert(0, f"end-to-end / row loop = {e2e / loop_rate:.1f}x")
        targets.insert(1, f">= 10x row loop [{'met' if e2e >= 10 * loop_rate else 'NOT met'}]")
    if zip_rate:
        ratios.append(f"zip / loose = {zip_rate / e2e:.2f}x")
        targets += [f"zip >= 0.9x loose [{'met' if zip_rate >= 0.9 * e2e else 'NOT met'}]",
                    f"zip peak < 1 GiB [{'met' if zip_peak < 1024 else 'NOT met'}]"]
    print(f"ratios: {'; '.join(ratios)}")
    print(f"targets: {', '.join(targets)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
