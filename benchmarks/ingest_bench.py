"""Benchmark of the main job: `ingest_sequential` on a synthetic archive (>= 5 million rows).

Starts a throwaway QuestDB (fresh data directory, free loopback ports, its copy root for Parquet imports)
and a fresh SQLite catalog per run, so every run measures the same thing. Prints, on the same files:
  - end to end through the Parquet path and through the ILP path (the command from start until every row
    is visible in QuestDB: rows/s), each with the CPU of the ingest process and of QuestDB per row, the
    cores busy and the ingest process's peak memory (``--rounds`` alternates them),
  - the same files as one ZIP (deflate, as Kraken ships them) through the default (Parquet) path: rows/s,
    the ratio to the loose files (target >= 0.9x) and what inflating alone costs per row (``--no-zip``),
  - peer (n): the naive Parquet import (all files parsed, sorted by time, cut into 1 M-row Parquet files,
    each inserted with ``INSERT ... SELECT FROM read_parquet()`` in turn, nothing overlapped),
  - peer (a): one ``Sender.row()`` call per candle over ILP/HTTP (time-boxed),
  - peer (b): parsing the CSVs alone (polars, chunked, validated, as the job does),
  - the machine's load while measuring.

    .venv/bin/python benchmarks/ingest_bench.py [--rows-target 5000000] [--rounds 1] [--row-loop-seconds 60]
        [--paths parquet,ilp] [--no-zip] [--sync] [--partition-by MONTH] [--questdb-root DIR] [--keep]

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

from common import (
    REPO,
    count_rows,
    env_for,
    import_dir_of,
    loadavg,
    pg,
    process_cpu,
    run_child,
    set_layout,
    start_questdb,
)

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


def row_loop(files: list[Path], ports: server.Ports, seconds: float) -> tuple[int, float]:
    """The plain approach: csv module + one Sender.row() per candle (auto-flush every 75,000 rows), into a
    table with the same schema and DEDUP, timed until the rows are visible like the end-to-end figure."""
    from questdb import Sender, TimestampNanos

    from feefifofunds.store import schema

    table = "assetprice_rowloop"
    with pg(ports) as conn:
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
    with pg(ports) as conn:
        wait_visible(conn, table)
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


def naive_parquet(files: list[Path], ports: server.Ports, server_pid: int, import_dir: Path,
                  chunk_rows: int = 1_000_000) -> tuple[int, float, float, float]:
    """The peer of the Parquet path: parse every file, sort all rows by time, write 1 M-row Parquet files
    into the copy root and insert each in turn, nothing overlapped (into a table of the same schema and
    DEDUP). Returns rows, seconds until visible, and the client's and the server's CPU seconds."""
    import polars as pl

    from feefifofunds.sources import kraken_archive as archive
    from feefifofunds.store import parquet_import, schema

    table = "assetprice_naive"
    with pg(ports) as conn:
        conn.execute(schema.create_table_sql(table))
        conn.execute(f"ALTER TABLE {table} DEDUP ENABLE UPSERT KEYS({', '.join(schema.DEDUP_KEYS)})")
    c0, s0, t0 = time.process_time(), process_cpu(server_pid), time.perf_counter()
    frames = []
    for asset_id, f in enumerate(files, 1):
        pair, interval = f.stem.rsplit("_", 1)
        df = pl.concat([chunk for _, chunk, _ in archive.iter_chunks(f)])
        frames.append(df.with_columns(pl.lit(asset_id, pl.Int32).alias("asset_id"),
                                      pl.lit(int(interval), pl.Int32).alias("interval_minutes"),
                                      pl.lit(0, pl.Int16).alias("quote_code")))
    rows = pl.concat(frames).sort("time")
    with pg(ports) as conn:
        for at in range(0, rows.height, chunk_rows):
            path = import_dir / f"naive-{at}.parquet"
            parquet_import.write_parquet(parquet_import.window_table(rows.slice(at, chunk_rows), ["USD"], "kraken"),
                                         path)
            conn.execute(parquet_import.insert_sql(str(path), table))
            path.unlink()
        wait_visible(conn, table)
    return rows.height, time.perf_counter() - t0, time.process_time() - c0, process_cpu(server_pid) - s0


def wait_visible(conn, table: str) -> None:
    while True:
        writer_txn, sequencer_txn = conn.execute(
            "SELECT writerTxn, sequencerTxn FROM wal_tables() WHERE name = %s", (table,)).fetchone()
        if writer_txn >= sequencer_txn:
            return
        time.sleep(0.05)


def job_run(label: str, source: Path, work: Path, ports: server.Ports, server_pid: int, import_dir: Path | None,
            total_rows: int, partition_by: str | None) -> float:
    """One ``ingest_sequential`` of the whole archive (``source``: its CSV files' folder, or one zip) into
    an empty table, a fresh catalog; prints its figures and returns rows/s."""
    data, ingested = work / "archive" / "data", work / "archive" / "ingested"
    shutil.rmtree(data.parent, ignore_errors=True)
    data.mkdir(parents=True)
    for f in [source] if source.is_file() else source.glob("*.csv"):
        os.link(f, data / f.name)
    with pg(ports) as conn:
        conn.execute("DROP TABLE IF EXISTS assetprice")
    catalog = work / f"catalog-{label}-{time.time_ns()}.sqlite3"
    env = env_for(ports, catalog, import_dir=import_dir)
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=REPO, env=env, check=True)
    if partition_by:
        set_layout(ports, partition_by)
    s0, t0 = process_cpu(server_pid), time.perf_counter()
    run = run_child([sys.executable, "manage.py", "ingest_sequential", "--data-dir", str(data), "--yes"], env)
    wall, server_cpu = time.perf_counter() - t0, process_cpu(server_pid) - s0  # returns once rows are visible
    if run.returncode != 0:
        raise SystemExit(f"{label}: ingest_sequential failed ({run.returncode}):\n{run.stdout[-3000:]}\n"
                         f"{run.stderr[-3000:]}")
    expected = "Parquet files" if import_dir else "ILP over HTTP"
    assert f"Write path: {expected}" in run.stdout, run.stdout[:2000]
    stored = count_rows(ports)
    assert stored == total_rows, (stored, total_rows)
    rate = total_rows / wall
    print(f"{label:<22} {rate:>12,.0f} rows/s  ({wall:.2f} s; client {run.cpu / total_rows * 1e6:.2f} us/row, "
          f"server {server_cpu / total_rows * 1e6:.2f} us/row, {(run.cpu + server_cpu) / wall:.2f} cores busy, "
          f"peak {run.peak_mib:,.0f} MiB, load {loadavg()})", flush=True)
    shutil.rmtree(ingested, ignore_errors=True)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows-target", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each path, in alternation")
    parser.add_argument("--row-loop-seconds", type=float, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--sync", action="store_true", help="durable commits (QDB_CAIRO_COMMIT_MODE=sync)")
    parser.add_argument("--partition-by", help="re-create assetprice with this partitioning (compare layouts)")
    parser.add_argument("--no-big-file", action="store_true", help="leave out the 2 M-row file")
    parser.add_argument("--paths", default="parquet,ilp", help="write paths to run (default: parquet,ilp)")
    parser.add_argument("--no-zip", action="store_true", help="do not run the same files from a zip")
    parser.add_argument("--questdb-root", type=Path,
                        help="QuestDB data directory (default: inside the temporary directory, on disk); e.g. "
                             "/dev/shm/fff-bench to see how much of the time is the disk")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fff-bench-"))
    source = work / "source"
    bases = []
    total_rows = files = 0
    t0 = time.perf_counter()
    i = 0
    while total_rows < args.rows_target:  # add pairs until the archive is big enough
        base = f"BX{i:03d}"
        f, r = generate(source, bases=(base,), quotes=("USD",), specs=BENCH_SPECS, seed=i)
        bases.append(base)
        files, total_rows, i = files + f, total_rows + r, i + 1
    # One large file (about 2 million 1-minute candles, >100 MiB) shows that memory stays bounded per file.
    if not args.no_big_file:
        f, r = generate(source, bases=("BIGXBT",), quotes=("USD",), specs=(Spec(1, 1400),), seed=999)
        bases.append("BIGXBT")
        files, total_rows = files + f, total_rows + r
    size = sum(p.stat().st_size for p in source.glob("*.csv"))
    print(f"archive: {files} files, {total_rows:,} rows, {size / 2**20:,.0f} MiB over {len(bases)} pairs "
          f"x {len(BENCH_SPECS)} intervals (generated in {time.perf_counter() - t0:.1f} s)", flush=True)
    all_files = sorted(source.glob("*.csv"))

    parsed, parse_s = parse_only(all_files)
    assert parsed == total_rows
    print(f"(b) parse only:        {parsed / parse_s:>12,.0f} rows/s  ({parse_s:.2f} s)", flush=True)

    qroot = args.questdb_root or work / "questdb"
    import_dir = import_dir_of(qroot)
    print(f"QuestDB {server.QUESTDB_VERSION} data directory: {qroot}, "
          f"{'sync (durable)' if args.sync else 'default'} commit mode", flush=True)
    proc, ports = start_questdb(qroot, sync=args.sync)
    try:
        rates: dict[str, list[float]] = {}
        paths = [p.strip() for p in args.paths.split(",") if p.strip()]
        for _ in range(args.rounds):
            for path in paths:
                rate = job_run(f"end to end, {path}:", source, work, ports, proc.pid,
                               import_dir if path == "parquet" else None, total_rows, args.partition_by)
                rates.setdefault(path, []).append(rate)
        best = {path: max(r) for path, r in rates.items()}
        zip_rate = None
        if not args.no_zip:
            zpath = work / "zipped" / "Kraken_OHLCVT.zip"
            zip_s = make_zip(all_files, zpath)
            inflated, inflate_s = inflate_only(zpath, job=True)
            _, zlib_s = inflate_only(zpath, job=False)
            print(f"zip: {zpath.stat().st_size / 2**20:,.0f} MiB deflated from {inflated / 2**20:,.0f} MiB "
                  f"(made in {zip_s:.1f} s); inflating alone {inflate_s / total_rows * 1e6:.2f} us/row "
                  f"(zipfile's zlib: {zlib_s / total_rows * 1e6:.2f} us/row)", flush=True)
            zip_rate = job_run("end to end, zip:", zpath, work, ports, proc.pid, import_dir, total_rows,
                               args.partition_by)
            loose = best.get("parquet") or next(iter(best.values()), None)
            if loose:
                print(f"zip / loose files = {zip_rate / loose:.2f}x (target >= 0.9x) "
                      f"[{'met' if zip_rate >= 0.9 * loose else 'NOT met'}]", flush=True)

        naive_rows, naive_s, naive_client, naive_server = naive_parquet(all_files, ports, proc.pid, import_dir)
        assert naive_rows == total_rows
        naive = naive_rows / naive_s
        print(f"(n) naive Parquet:     {naive:>12,.0f} rows/s  ({naive_s:.2f} s; client "
              f"{naive_client / naive_rows * 1e6:.2f} us/row, server {naive_server / naive_rows * 1e6:.2f} us/row, "
              f"load {loadavg()})", flush=True)
        loop_rate = 0.0
        if args.row_loop_seconds > 0:
            # Same order as the job (coarse intervals first), so both meet the same partition layout.
            ordered = sorted(all_files, key=lambda p: (-int(p.stem.rsplit("_", 1)[1]), p.name))
            loop_rows, loop_s = row_loop(ordered, ports, args.row_loop_seconds)
            loop_rate = loop_rows / loop_s
            print(f"(a) Sender.row() loop: {loop_rate:>12,.0f} rows/s  ({loop_rows:,} rows in {loop_s:.1f} s, "
                  f"load {loadavg()})")
        if "parquet" in best:
            e2e = best["parquet"]
            vs_ilp = f", {e2e / best['ilp']:.2f}x the ILP path" if "ilp" in best else ""
            vs_loop = f", {e2e / loop_rate:.1f}x the row loop" if loop_rate else ""
            print(f"Parquet path: {e2e / naive:.2f}x the naive Parquet import{vs_ilp}{vs_loop}")
            print(f"targets: >= 1,000,000 rows/s end to end [{'met' if e2e >= 1e6 else 'NOT met'}], "
                  f">= 1.4x the naive Parquet import [{'met' if e2e >= 1.4 * naive else 'NOT met'}]")
    finally:
        server.stop(proc.pid)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            if args.questdb_root:
                shutil.rmtree(args.questdb_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
