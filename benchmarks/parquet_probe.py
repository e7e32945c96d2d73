"""Measure the Parquet write path on a throwaway QuestDB: client time to write a window's file, QuestDB's
time and CPU to insert it (until the rows are visible), per compression, and the facts the path relies on.

    python benchmarks/parquet_probe.py [--rows 250000 1000000] [--rounds 5] [--compressions none snappy lz4]
                                       [--ilp] [--no-facts]

Windows are Kraken-shaped (30 pairs x 7 intervals, two quotes, series after series inside a window as the
archive job stages them) and consecutive in time, so every INSERT appends, as the job's do. The variants
run in alternation round after round (the machine is shared and noisy) and medians are printed. ``--ilp``
sends the same windows over ILP too (the writer's frame, one flush per window) as the peer. Server CPU is
the QuestDB process's utime+stime from the statement's start until ``wait_for_wal`` returns.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
from common import loadavg, process_cpu, start_questdb

INTERVALS = (1, 5, 15, 30, 60, 240, 1440)
ASSETS = 30
QUOTES = ["USD", "EUR"]
SOURCE = "kraken"


def window_frame(rows: int, start: int, rng: np.random.Generator) -> tuple[pl.DataFrame, int]:
    """About ``rows`` rows from ``start`` (Unix seconds) on, in the archive job's window frame; and the end."""
    per_minute = ASSETS * sum(1 / i for i in INTERVALS)
    span = max(1, int(rows / per_minute)) * 60
    times, assets, intervals = [], [], []
    for asset in range(ASSETS):
        for interval in INTERVALS:
            t = np.arange(start - start % (interval * 60), start + span, interval * 60, dtype=np.int64)
            t = t[t >= start]
            times.append(t)
            assets.append(np.full(len(t), asset + 1, np.int32))
            intervals.append(np.full(len(t), interval, np.int32))
    time_ = np.concatenate(times)
    n = len(time_)
    price = rng.random(n) * 100 + 1
    frame = pl.DataFrame({
        "time": time_, "open": price, "high": price * 1.01, "low": price * 0.99, "close": price * 1.001,
        "volume": rng.random(n) * 10, "trade_count": rng.integers(0, 500, n),
        "asset_id": np.concatenate(assets), "interval_minutes": np.concatenate(intervals),
        "quote_code": (np.concatenate(assets) % 2).astype(np.int16),
    })
    return frame, start + span


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Probe:
    def __init__(self, pid: int, alias: str = "questdb"):
        self.pid = pid
        self.alias = alias

    def txn(self) -> int:
        from feefifofunds.store import client, schema

        rows = client.query("SELECT sequencerTxn FROM wal_tables() WHERE name = %s", (schema.TABLE,), alias=self.alias)
        return int(rows[0][0]) if rows else 0

    def parquet(self, frame: pl.DataFrame, compression: str, row_group_rows: int) -> dict[str, float]:
        from feefifofunds.store import client, parquet_import, schema

        c0, w0 = time.process_time(), time.perf_counter()
        table = parquet_import.window_table(frame, QUOTES, SOURCE)
        with parquet_import.import_file(self.alias) as (name, path):
            size = parquet_import.write_parquet(table, path, compression=compression, row_group_rows=row_group_rows)
            c1, w1 = time.process_time(), time.perf_counter()
            txn0, s0 = self.txn(), process_cpu(self.pid)
            inserted = parquet_import.insert_parquet(self.alias, name)
            w2 = time.perf_counter()
            client.wait_for_wal(schema.TABLE, alias=self.alias)
            w3, s1 = time.perf_counter(), process_cpu(self.pid)
        assert inserted == frame.height, (inserted, frame.height)
        return {"client_cpu": c1 - c0, "write_wall": w1 - w0, "insert_wall": w2 - w1, "visible_wall": w3 - w1,
                "server_cpu": s1 - s0, "bytes": size, "txns": self.txn() - txn0}

    def ilp(self, frame: pl.DataFrame) -> dict[str, float]:
        from feefifofunds.ingestion.writer import rows_to_ilp_frame
        from feefifofunds.store import client, schema

        with client.open_sender(self.alias) as sender:
            c0, w0, s0 = time.process_time(), time.perf_counter(), process_cpu(self.pid)
            sender.dataframe(rows_to_ilp_frame(frame, QUOTES, SOURCE), table_name=schema.TABLE,
                             symbols=["quote_currency", "source"], at="time")
            sender.flush()
            c1, w1 = time.process_time(), time.perf_counter()
            client.wait_for_wal(schema.TABLE, alias=self.alias)
            w2, s1 = time.perf_counter(), process_cpu(self.pid)
        return {"client_cpu": c1 - c0, "write_wall": 0.0, "insert_wall": w1 - w0, "visible_wall": w2 - w0,
                "server_cpu": s1 - s0, "bytes": 0, "txns": 1}


def run_variant(probe: Probe, variant: str, frame: pl.DataFrame, row_group_rows: int) -> dict[str, float]:
    """``ilp``, or ``<compression>[:<rows per row group>]``."""
    if variant == "ilp":
        return probe.ilp(frame)
    compression, _, group = variant.partition(":")
    return probe.parquet(frame, compression, int(group) if group else row_group_rows)


def run_sizes(probe: Probe, sizes: list[int], rounds: int, compressions: list[str], ilp: bool,
              row_group_rows: int, start: int) -> int:
    rng = np.random.default_rng(17)
    every = [*compressions, *(["ilp"] if ilp else [])]
    warm, start = window_frame(10_000, start, rng)
    for variant in every:  # first calls load code on both sides; not measured
        run_variant(probe, variant, warm, row_group_rows)
    for size in sizes:
        # One ILP request holds at most the client's 256 MiB buffer (~1.3 M rows).
        variants = [v for v in every if v != "ilp" or size <= 1_000_000]
        results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        rows_of: dict[str, list[int]] = {v: [] for v in variants}
        for r in range(rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for variant in order:
                frame, start = window_frame(size, start, rng)
                out = run_variant(probe, variant, frame, row_group_rows)
                results[variant].append(out)
                rows_of[variant].append(frame.height)
        print(f"\nwindows of ~{size:,} rows, {rounds} rounds in alternation, medians (load {loadavg()}):")
        print(f"  {'path':14s} {'rows/s*':>10s} {'write ms':>9s} {'client us/row':>14s} {'insert ms':>10s} "
              f"{'visible ms':>11s} {'server us/row':>14s} {'MB':>6s} {'txns':>5s}")
        for variant in variants:
            res, rows = results[variant], median(rows_of[variant])
            visible = median([x["visible_wall"] for x in res])
            write = median([x["write_wall"] for x in res])
            print(f"  {variant:14s} {rows / (write + visible):10,.0f} {write * 1e3:9.0f} "
                  f"{median([x['client_cpu'] for x in res]) / rows * 1e6:14.2f} "
                  f"{median([x['insert_wall'] for x in res]) * 1e3:10.0f} {visible * 1e3:11.0f} "
                  f"{median([x['server_cpu'] for x in res]) / rows * 1e6:14.2f} "
                  f"{median([x['bytes'] for x in res]) / 1e6:6.1f} {median([x['txns'] for x in res]):5.0f}")
        print("  * rows/s: one window written, then inserted until visible, nothing overlapped")
    return start


def facts(probe: Probe, start: int) -> None:
    """The behaviours the Parquet path relies on, each checked on this server and printed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from feefifofunds.ingestion.writer import rows_to_ilp_frame
    from feefifofunds.store import client, parquet_import, schema

    alias, rng = probe.alias, np.random.default_rng(5)
    folder = parquet_import.import_folder(alias)
    print("\nfacts:")

    def count() -> int:
        client.wait_for_wal(schema.TABLE, alias=alias)
        return int(client.query(f"SELECT count() FROM {schema.TABLE}", alias=alias)[0][0])

    print(f"  probe: {parquet_import.probe(alias) or 'ok'}")
    frame, start = window_frame(10_000, start, rng)
    table = parquet_import.window_table(frame, QUOTES, SOURCE)
    parquet_import.import_rows(alias, table)
    before = count()
    changed = table.set_column(table.schema.get_field_index("close"), "close",
                               pa.array(np.full(table.num_rows, 4242.0)))
    parquet_import.import_rows(alias, changed)
    after = count()
    later = client.query(f"SELECT count() FROM {schema.TABLE} WHERE close = 4242.0", alias=alias)[0][0]
    print(f"  DEDUP on re-insert: count {before:,} -> {after:,}; rows with the later value: {later:,} of "
          f"{table.num_rows:,}")

    small, start = window_frame(2_000, start, rng)
    ilp_frame = rows_to_ilp_frame(small, QUOTES, SOURCE)
    keys = (_ts(small, 0), _ts(small, -1, 1))
    window_sql = f"SELECT DISTINCT close FROM {schema.TABLE} WHERE time >= %s AND time < %s"

    def by_parquet(value: float) -> None:
        t = parquet_import.window_table(small, QUOTES, SOURCE)
        parquet_import.import_rows(alias, t.set_column(t.schema.get_field_index("close"), "close",
                                                       pa.array(np.full(t.num_rows, value))))

    def by_ilp(value: float) -> None:
        ilp_frame["close"] = value
        sender.dataframe(ilp_frame, table_name=schema.TABLE, symbols=["quote_currency", "source"], at="time")
        sender.flush()

    with client.open_sender(alias) as sender:
        for steps in ((by_ilp, 1.0), (by_parquet, 2.0), (by_ilp, 3.0)), ((by_parquet, 4.0), (by_ilp, 5.0),
                                                                         (by_parquet, 6.0)):
            txn0 = probe.txn()
            for step, value in steps:
                step(value)
            early = client.query(f"SELECT count() FROM {schema.TABLE} WHERE time >= %s AND time < %s", keys,
                                 alias=alias)[0][0]
            client.wait_for_wal(schema.TABLE, alias=alias)
            seen = sorted(r[0] for r in client.query(window_sql, keys, alias=alias))
            print(f"  WAL order: {', '.join(f'{s.__name__[3:]} close={v:g}' for s, v in steps)} -> after "
                  f"wait_for_wal close in {seen}; {probe.txn() - txn0} transactions; rows readable right after "
                  f"the last commit, before wait_for_wal: {early:,} of {small.height:,}")

    frame, start = window_frame(1_000, start, rng)
    mixed = parquet_import.window_table(frame, QUOTES, SOURCE)
    vwap = [float("nan") if i % 3 == 0 else None if i % 3 == 1 else 1.5 for i in range(frame.height)]
    mixed = mixed.set_column(mixed.schema.get_field_index("vwap"), "vwap", pa.array(vwap, pa.float64()))
    parquet_import.import_rows(alias, mixed)
    nulls = client.query(f"SELECT count() - count(vwap), count(vwap) FROM {schema.TABLE} WHERE time >= %s",
                         (_ts(frame, 0),), alias=alias)[0]
    print(f"  vwap NaN (1/3) and null (1/3): stored {nulls[0]} NULL, {nulls[1]} values, of {frame.height}")

    for label, bad, sql_name in _refusals(folder, table):
        path = folder.local / sql_name
        if bad is not None:
            pq.write_table(bad, str(path))
        try:
            parquet_import.insert_parquet(alias, sql_name)
            outcome = "accepted"
        except parquet_import.ParquetImportError as exc:
            outcome = f"refused: {exc.server_message}"
        finally:
            if bad is not None:
                path.unlink(missing_ok=True)
        print(f"  {label}: {outcome}")
    big, start = window_frame(1_200_000, start, rng)
    bad = parquet_import.window_table(big, QUOTES, SOURCE)
    bad = bad.set_column(bad.schema.get_field_index("asset_id"), "asset_id",
                         pa.array(["1"] * (bad.num_rows - 1) + ["x"]))
    n0, txn0 = count(), probe.txn()
    with parquet_import.import_file(alias) as (name, path):
        pq.write_table(bad, str(path))
        try:
            parquet_import.insert_parquet(alias, name)
        except parquet_import.ParquetImportError as exc:
            print(f"  a {bad.num_rows:,}-row file refused at its last row ({exc.server_message}): "
                  f"{count() - n0:,} rows written, {probe.txn() - txn0} transactions")
    outside = Path(tempfile.gettempdir()) / "fff-outside.parquet"
    pq.write_table(table, str(outside))
    try:
        with client.connection(alias) as conn:
            conn.execute(parquet_import.insert_sql(str(outside)))
        print(f"  absolute path outside the copy root ({outside}): accepted")
    except Exception as exc:  # noqa: BLE001 (printed as found)
        print(f"  absolute path outside the copy root ({outside}): refused: {str(exc).splitlines()[0]}")
    finally:
        outside.unlink(missing_ok=True)

    # Out of time order: a window inside the stored time range, of new series (QuestDB merges it into
    # partitions that hold rows), against one appended after everything stored.
    first = 1_500_000_000
    inside, _ = window_frame(250_000, first, rng)
    inside = inside.with_columns(asset_id=pl.col("asset_id") + 1000)
    ordered, start = window_frame(250_000, start, rng)
    for label, f in (("in time order (appends)", ordered), ("inside the stored range (merges)", inside)):
        out = probe.parquet(f, parquet_import.COMPRESSION, parquet_import.ROW_GROUP_ROWS)
        print(f"  {label}: {f.height:,} rows visible in {out['visible_wall'] * 1e3:.0f} ms, "
              f"server {out['server_cpu'] / f.height * 1e6:.2f} us/row")

    frames = [window_frame(250_000, s, rng)[0] for s in (start, start + 10 * 86400)]
    errors: list[BaseException] = []

    def insert(f: pl.DataFrame) -> None:
        try:
            parquet_import.import_rows(alias, parquet_import.window_table(f, QUOTES, SOURCE))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    n0 = count()
    threads = [threading.Thread(target=insert, args=(f,)) for f in frames]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    added = count() - n0
    print(f"  two INSERTs from two connections at once: {added:,} of {sum(f.height for f in frames):,} rows, "
          f"{wall * 1e3:.0f} ms, errors: {[str(e) for e in errors] or 'none'}")
    print(f"  import folder after all of it: {sorted(p.name for p in folder.local.iterdir()) or 'empty'}")


def _ts(frame: pl.DataFrame, index: int, plus: int = 0):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(frame.get_column("time").sort()[index]) + plus, UTC)


def _refusals(folder, table):
    import pyarrow as pa

    n = table.num_rows
    idx = table.schema.get_field_index
    yield ("time as int64 (not a timestamp)",
           table.set_column(idx("time"), "time", table.column("time").cast(pa.int64())), folder.new_name("bad-"))
    yield ("close as boolean", table.set_column(idx("close"), "close", pa.array(np.ones(n, bool))),
           folder.new_name("bad-"))
    yield ("asset_id as string 'x'", table.set_column(idx("asset_id"), "asset_id", pa.array(["x"] * n)),
           folder.new_name("bad-"))
    yield ("asset_id as string '7' (converted, not refused)",
           table.set_column(idx("asset_id"), "asset_id", pa.array(["7"] * n)), folder.new_name("bad-"))
    yield ("close column missing", table.drop(["close"]), folder.new_name("bad-"))
    yield ("time null", table.set_column(idx("time"), "time", pa.nulls(n, table.schema.field("time").type)),
           folder.new_name("bad-"))
    yield ("file missing", None, folder.new_name("missing-"))
    yield ("path with '..'", None, "../" + folder.new_name("bad-"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 500_000, 1_000_000, 2_000_000],
                        help="window sizes in rows (default: 250000 500000 1000000 2000000)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compressions", nargs="+", default=["none", "snappy", "lz4"],
                        help="Parquet variants, each <compression>[:<rows per row group>], e.g. lz4:100000")
    parser.add_argument("--row-group-rows", type=int, default=None, help="default: parquet_import.ROW_GROUP_ROWS")
    parser.add_argument("--ilp", action="store_true", help="the same windows over ILP too, as the peer")
    parser.add_argument("--no-facts", action="store_true")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="fff-parquet-probe-"))
    proc, ports = start_questdb(root / "questdb")
    try:
        os.environ.update(DJANGO_SETTINGS_MODULE="feefifofunds_project.settings",
                          DATABASE_URL=f"sqlite:///{root / 'catalog.sqlite3'}", QUESTDB_HOST="127.0.0.1",
                          QUESTDB_HTTP_PORT=str(ports.http), QUESTDB_PG_PORT=str(ports.pg),
                          QUESTDB_ILP_PORT=str(ports.ilp), QUESTDB_IMPORT_DIR=str(root / "questdb" / "import"))
        os.environ.pop("QUESTDB_IMPORT_DIR_SERVER", None)
        import django

        django.setup()
        from feefifofunds.store import parquet_import, schema

        schema.create_table("questdb")
        schema.enable_dedup("questdb")
        probe = Probe(proc.pid)
        print(f"QuestDB pid {proc.pid}, {os.cpu_count()} cores, load {loadavg()}; "
              f"row groups of {args.row_group_rows or parquet_import.ROW_GROUP_ROWS:,} rows")
        start = run_sizes(probe, args.rows, args.rounds, args.compressions, args.ilp,
                          args.row_group_rows or parquet_import.ROW_GROUP_ROWS, 1_500_000_000)
        if not args.no_facts:
            facts(probe, start)
    finally:
        from feefifofunds.store import server

        server.stop(proc.pid)
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
