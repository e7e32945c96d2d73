"""Scale benchmark: the complete Kraken archive's shape, through the project's own commands, then a one-day
and a one-quarter update.

Generates an archive of ``--pairs`` pairs x 8 intervals in the real file format
(``feefifofunds.samples.shape``: 1-minute candles for 90 days up to 8 years of daily ones, listing dates
spread, liquid and illiquid pairs whose quiet spells leave hundreds of thousands of gap runs at 600 pairs;
the default 190 pairs hold >= 40 M rows, 600 pairs ~143 M rows and ~9 GB of CSV, the issue's size). Starts a
throwaway QuestDB and SQLite catalog, a local fake of Kraken's REST API answering AssetPairs for every pair
(``tests/support/fake_kraken.py``: the survey's pair lookup costs no retries), and the dashboard as
`make serve` serves it (gunicorn). Then, for the archive, a one-day update (one small file per series, the
day after the archive) and a one-quarter update (one file per series as Kraken ships them: the quarter up to
today, from 3 days before the archive's end, so it overlaps the store's last 4 days), it measures:

- ``ingest_sequential`` of the files (rows/s until visible, client and server CPU per row), generation
  timed apart;
- QuestDB's data folder: bytes a stored row (and the input's CSV bytes a row);
- the first ``/api/assets`` after the write (coverage and gap counts of the whole store);
- one series' 1-minute candles, the first 1,000-candle page of its last 30 days (``/api/candles``, the most
  liquid pair), and ``/api/gaps`` of one series (the 1-minute series of the least liquid pair): the first
  request and the median of 5 after it;
- ``backfill_kraken_gaps --dry-run`` (the daily survey);
- ``manage.py rebuild_gaps`` (when the command exists) against ``detect_gaps`` over the whole store, both
  as processes.

Prints one table (figures, targets, the machine's load) and writes it as JSON. Free disk is checked first
(the run is refused when its estimate does not fit); everything it wrote (input, store, staging, import
files, ingested originals) is removed at the end unless ``--keep``.

    .venv/bin/python benchmarks/scale_bench.py [--pairs 190|max] [--scale 1.0] [--root .state/bench]
        [--json FILE] [--workers 2] [--max-gib 25] [--keep]

``--pairs 20`` is a quick check (~5 M rows); ``--pairs max`` takes the largest archive whose estimate fits
the free disk and ``--max-gib``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from common import REPO, count_rows, env_for, import_dir_of, loadavg, measure, run_child, serve, start_questdb

from feefifofunds.samples import shape
from feefifofunds.store import server

DEFAULT_PAIRS = 190  # >= 40 M rows
QUARTER_DAYS, OVERLAP_DAYS = 90, 3
DAY = shape.DAY
GIB = 2**30
# Disk a row takes, as this benchmark measured it at small sizes (each run records its peak in the JSON): its
# CSV line, its share of a running QuestDB's data folder (column files, WAL, pages allocated ahead) plus a
# fixed part, the job's staging copy (bounded by FEEFIFOFUNDS_STAGING_MAX_BYTES, 8 GiB by default).
CSV_BYTES_ROW, STORE_BYTES_ROW, STORE_FIXED = 64, 110, GIB
STAGING_BYTES_ROW, STAGING_MAX = 60, 8 * GIB
RESERVE = 2 * GIB  # left free for everything else on the disk
WARM_REQUESTS = 5

TARGETS = {
    "ingest": ">= 200 K rows/s (one-day update)",
    "survey": "< 5 s (after the one-day update)",
    "assets": "< 1 s",
    "candles": "< 100 ms",
    "gaps": "< 100 ms",
    "rebuild": "<= detect_gaps",
}


@dataclass
class Phase:
    """What one write and the reads after it measured."""

    name: str
    files: int = 0
    rows: int = 0
    csv_bytes: int = 0
    generate_s: float = 0.0
    ingest_s: float = 0.0
    ingest_rows_s: float = 0.0
    client_us_row: float = 0.0
    server_us_row: float = 0.0
    ingest_peak_mib: float = 0.0
    stored_rows: int = 0
    store_bytes: int = 0
    wal_bytes: int = 0
    peak_disk_bytes: int = 0  # the run's folder, while generating and importing
    assets_first_s: float | None = None
    assets_warm_ms: float | None = None
    candles_first_ms: float | None = None
    candles_ms: float | None = None
    candles_returned: int = 0
    gaps_first_ms: float | None = None
    gaps_ms: float | None = None
    gaps_returned: int = 0
    survey_s: float | None = None
    detect_s: float | None = None
    detect_query_s: float | None = None
    gap_runs: int | None = None
    rebuild_s: float | None = None
    errors: list[str] = field(default_factory=list)
    load: str = ""


# ----------------------------------------------------------------------------------------- sizes and disk

def archive_spans(end: int, scale: float):
    return lambda pair, interval: (shape.archive_start(pair, interval, end, scale), end)


def estimate_bytes(pairs: list[shape.Pair], end: int, scale: float) -> tuple[int, int]:
    """(archive rows, peak disk bytes) of a run. An import holds its CSV files, their staging copy and the
    store at once; each input is removed after its import."""
    archive = shape.expected_rows(pairs, archive_spans(end, scale))
    quarter = shape.expected_rows(pairs, lambda p, i: (end - OVERLAP_DAYS * DAY, end + QUARTER_DAYS * DAY))
    day = shape.expected_rows(pairs, lambda p, i: (end, end + DAY))

    def importing(rows: int, stored: int) -> int:
        return rows * CSV_BYTES_ROW + min(rows * STAGING_BYTES_ROW, STAGING_MAX) + stored * STORE_BYTES_ROW

    peak = max(importing(archive, archive), importing(quarter, archive + day + quarter))
    return archive, peak + STORE_FIXED


def largest_fitting(free: int, end: int, scale: float, max_bytes: int) -> int:
    """The most pairs whose estimate fits ``max_bytes`` and the free disk (less ``RESERVE``)."""
    limit = min(free - RESERVE, max_bytes)

    def fits(count: int) -> bool:
        return estimate_bytes(shape.make_pairs(count), end, scale)[1] <= limit

    high = 2
    while fits(high) and high < 1 << 16:
        high *= 2
    low = high // 2 if fits(high // 2) else 0
    while low + 1 < high:  # fits(low), not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def folder_bytes(path: Path) -> tuple[int, int]:
    """(disk bytes, of which in WAL folders) under ``path``: allocated blocks, so sparse files count what
    they hold."""
    total = wal = 0
    for folder, _, files in os.walk(path):
        in_wal = "/wal" in folder[len(str(path)):]
        for name in files:
            try:
                size = os.lstat(os.path.join(folder, name)).st_blocks * 512
            except FileNotFoundError:
                continue  # purged meanwhile
            total += size
            wal += size if in_wal else 0
    return total, wal


@contextmanager
def disk_peak(folder: Path, every: float = 5.0):
    """The most disk ``folder`` took while the block ran (sampled every ``every`` seconds): ``peak[0]``."""
    peak = [folder_bytes(folder)[0]]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            peak[0] = max(peak[0], folder_bytes(folder)[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], folder_bytes(folder)[0])


# ----------------------------------------------------------------------------------------- the steps

def ingest(phase: Phase, env: dict[str, str], data: Path, qdb_pid: int) -> None:
    with measure(qdb_pid) as reading:
        run = run_child([sys.executable, "manage.py", "ingest_sequential", "--data-dir", str(data), "--yes"], env)
    if run.returncode != 0:
        raise SystemExit(f"{phase.name}: ingest_sequential failed ({run.returncode}):\n{run.stdout[-3000:]}\n"
                         f"{run.stderr[-3000:]}")
    phase.ingest_s = reading.wall
    phase.ingest_rows_s = phase.rows / reading.wall
    phase.client_us_row = run.cpu / phase.rows * 1e6
    phase.server_us_row = reading.server_cpu / phase.rows * 1e6
    phase.ingest_peak_mib = run.peak_mib
    print(f"{phase.name}: ingest_sequential {phase.rows:,} rows in {reading.wall:.1f} s = "
          f"{phase.ingest_rows_s:,.0f} rows/s (client {phase.client_us_row:.2f}, server {phase.server_us_row:.2f} "
          f"us/row, peak {run.peak_mib:,.0f} MiB) [load {loadavg()}]", flush=True)


def get(url: str) -> tuple[float, dict | None, str]:
    """Milliseconds, the JSON answer (None on a failure) and the failure."""
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=900) as response:
            body = json.loads(response.read())
    except (OSError, ValueError) as exc:
        detail = exc.read()[:300].decode(errors="replace") if isinstance(exc, urllib.error.HTTPError) else ""
        return (time.perf_counter() - began) * 1000, None, f"{exc} {detail}".strip()
    return (time.perf_counter() - began) * 1000, body, ""


def first_and_warm(phase: Phase, label: str, url: str) -> tuple[float | None, float | None, dict | None]:
    """The first request and the median of the next ``WARM_REQUESTS``."""
    first, body, error = get(url)
    if body is None:
        phase.errors.append(f"{label}: {error}")
        print(f"{phase.name}: {label} failed after {first / 1000:.1f} s: {error}", flush=True)
        return None, None, None
    warm = [get(url)[0] for _ in range(WARM_REQUESTS)]
    return first, statistics.median(warm), body


def web_reads(phase: Phase, base: str, liquid: shape.Pair, illiquid: shape.Pair, end: int) -> None:
    first, warm, _ = first_and_warm(phase, "/api/assets", f"{base}/api/assets")
    phase.assets_first_s = None if first is None else first / 1000
    phase.assets_warm_ms = warm
    start = datetime.fromtimestamp(end - 30 * DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    candles = urlencode({"ticker": liquid.base, "interval": 1, "quote": liquid.quote, "source": "kraken",
                         "start": start, "limit": 1000})
    phase.candles_first_ms, phase.candles_ms, body = first_and_warm(phase, "/api/candles",
                                                                    f"{base}/api/candles?{candles}")
    phase.candles_returned = len(body["candles"]) if body else 0
    gaps = urlencode({"ticker": illiquid.base, "interval": 1, "quote": illiquid.quote, "source": "kraken"})
    phase.gaps_first_ms, phase.gaps_ms, body = first_and_warm(phase, "/api/gaps", f"{base}/api/gaps?{gaps}")
    phase.gaps_returned = len(body["gaps"]) if body else 0
    print(f"{phase.name}: first /api/assets {fmt(phase.assets_first_s, 's', 2)}, /api/candles "
          f"{fmt(phase.candles_ms, 'ms')} ({phase.candles_returned} candles), /api/gaps {fmt(phase.gaps_ms, 'ms')} "
          f"({phase.gaps_returned} gaps) [load {loadavg()}]", flush=True)


def timed_command(phase: Phase, label: str, env: dict[str, str], *args: str) -> tuple[float | None, str]:
    """Seconds of one ``manage.py`` run as a process, and its output; None when it failed."""
    began = time.perf_counter()
    run = run_child([sys.executable, "manage.py", *args], env)
    elapsed = time.perf_counter() - began
    if run.returncode != 0:
        phase.errors.append(f"{label} exit {run.returncode}: {(run.stderr or run.stdout)[-500:]}")
        print(f"{phase.name}: {label} failed ({run.returncode}): {run.stderr[-2000:]}", flush=True)
        return None, run.stdout
    return elapsed, run.stdout


DETECT = ("import json, time\n"
          "from feefifofunds.gaps.detection import detect_gaps\n"
          "began = time.perf_counter()\n"
          "gaps = detect_gaps()\n"
          "print(json.dumps({'gaps': len(gaps), 'seconds': time.perf_counter() - began}))\n")


def rebuild_command(env: dict[str, str]) -> list[str] | None:
    """``rebuild_gaps`` with the options it needs to run unattended, or None when this checkout has no such
    command."""
    listing = subprocess.run([sys.executable, "manage.py", "help", "--commands"], cwd=REPO, env=env,
                             capture_output=True, text=True, check=True).stdout.split()
    if "rebuild_gaps" not in listing:
        return None
    usage = subprocess.run([sys.executable, "manage.py", "help", "rebuild_gaps"], cwd=REPO, env=env,
                           capture_output=True, text=True).stdout
    return ["rebuild_gaps", *(["--yes"] if "--yes" in usage else [])]


def gap_steps(phase: Phase, env: dict[str, str], rebuild: list[str] | None) -> None:
    phase.survey_s, _ = timed_command(phase, "backfill_kraken_gaps --dry-run", env, "backfill_kraken_gaps",
                                      "--dry-run")
    phase.detect_s, out = timed_command(phase, "detect_gaps", env, "shell", "-c", DETECT)
    if phase.detect_s is not None:
        found = json.loads(out.strip().splitlines()[-1])
        phase.gap_runs, phase.detect_query_s = found["gaps"], found["seconds"]
    if rebuild is not None:
        phase.rebuild_s, _ = timed_command(phase, "rebuild_gaps", env, *rebuild)
    print(f"{phase.name}: survey {fmt(phase.survey_s, 's', 1)}, detect_gaps {fmt(phase.detect_s, 's', 1)} "
          f"({phase.gap_runs or 0:,} gap runs), rebuild_gaps "
          f"{fmt(phase.rebuild_s, 's', 1) if rebuild else 'n/a (no rebuild_gaps command)'} [load {loadavg()}]",
          flush=True)


def run_phase(phase: Phase, write, work: Path, env: dict[str, str], qdb: tuple, web: str,
              probes: tuple[shape.Pair, shape.Pair], end: int, rebuild: list[str] | None) -> None:
    """Generate the phase's files, ingest them, remove them, then every read."""
    proc, ports = qdb
    data = work / phase.name / "data"
    with disk_peak(work) as peak:
        began = time.perf_counter()
        written = write(data)
        phase.generate_s = time.perf_counter() - began
        phase.files, phase.rows, phase.csv_bytes = written.files, written.rows, written.bytes
        print(f"{phase.name}: generated {phase.files:,} files, {phase.rows:,} rows, {phase.csv_bytes / 1e9:.2f} GB "
              f"of CSV in {phase.generate_s:.1f} s", flush=True)
        ingest(phase, env, data, proc.pid)
    phase.peak_disk_bytes = peak[0]
    shutil.rmtree(work / phase.name)  # the input and its ingested originals: the store has them
    phase.stored_rows = count_rows(ports)
    phase.store_bytes, phase.wal_bytes = folder_bytes(work / "questdb" / "db")
    web_reads(phase, web, *probes, end)
    gap_steps(phase, env, rebuild)
    phase.load = loadavg()


# ----------------------------------------------------------------------------------------- the report

def fmt(value: float | None, unit: str, digits: int = 0) -> str:
    return "failed" if value is None else f"{value:,.{digits}f} {unit}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else (" [green]ok[/]" if ok else " [red]OVER[/]")


def table_rows(phases: list[Phase], info: dict, rebuild: bool) -> list[tuple[str, list[str], str]]:
    """(step, one cell per phase, target) for the table; the verdict marks the cells the targets are for."""
    day = {p.name: p.name == "day" for p in phases}

    def below(value, limit):
        return None if value is None else value < limit

    rows = [
        ("generation (apart)", [f"{p.rows / p.generate_s:,.0f} rows/s ({p.generate_s:.1f} s)" for p in phases], ""),
        ("ingest_sequential", [f"{p.ingest_rows_s:,.0f} rows/s ({p.rows:,} rows, {p.ingest_s:.1f} s)"
                               + verdict(p.ingest_rows_s >= 200_000 if day[p.name] else None) for p in phases],
         TARGETS["ingest"]),
        ("  client / server CPU", [f"{p.client_us_row:.2f} / {p.server_us_row:.2f} us/row" for p in phases], ""),
        ("QuestDB data folder, running", [f"{p.store_bytes / p.stored_rows:.1f} B/row ({p.store_bytes / GIB:.2f} GiB, "
                                 f"WAL {p.wal_bytes / GIB:.2f}; {p.stored_rows:,} rows)" for p in phases], ""),
        ("  once QuestDB is stopped", [""] * (len(phases) - 1) + [
            f"{info['store_bytes_row_at_rest']:.1f} B/row ({info['store_bytes_at_rest'] / GIB:.2f} GiB)"], ""),
        ("  run folder's peak disk", [f"{p.peak_disk_bytes / GIB:.2f} GiB" for p in phases],
         f"estimated {info['estimated_peak_bytes'] / GIB:.1f} GiB"),
        ("  input CSV", [f"{p.csv_bytes / p.rows:.1f} B/row ({p.csv_bytes / 1e9:.2f} GB, {p.files:,} files)"
                         for p in phases], ""),
        ("backfill_kraken_gaps --dry-run", [fmt(p.survey_s, "s", 1) + verdict(
            below(p.survey_s, 5) if day[p.name] else None) for p in phases], TARGETS["survey"]),
        ("first /api/assets after the write", [fmt(p.assets_first_s, "s", 2) + verdict(below(p.assets_first_s, 1))
                                               for p in phases], TARGETS["assets"]),
        ("  then (median of 5)", [fmt(p.assets_warm_ms, "ms") for p in phases], ""),
        ("/api/candles, 1,000 1-min candles", [f"{fmt(p.candles_ms, 'ms')} (first {fmt(p.candles_first_ms, 'ms')})"
                                               + verdict(below(p.candles_ms, 100)) for p in phases],
         TARGETS["candles"]),
        ("/api/gaps, one 1-min series", [f"{fmt(p.gaps_ms, 'ms')} (first {fmt(p.gaps_first_ms, 'ms')}, "
                                         f"{p.gaps_returned} gaps)" + verdict(below(p.gaps_ms, 100)) for p in phases],
         TARGETS["gaps"]),
        ("detect_gaps, whole store (process)", [f"{fmt(p.detect_s, 's', 1)} ({p.gap_runs or 0:,} gap runs; query "
                                      f"{fmt(p.detect_query_s, 's', 1)})" for p in phases], ""),
        ("rebuild_gaps (process)", [(fmt(p.rebuild_s, "s", 1) + verdict(
            None if p.rebuild_s is None or p.detect_s is None else p.rebuild_s <= p.detect_s))
            if rebuild else "n/a (no rebuild_gaps command)" for p in phases], TARGETS["rebuild"]),
        ("load (1/5/15 min) after", [p.load for p in phases], ""),
    ]
    return rows


def report(phases: list[Phase], info: dict, rebuild: bool, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    titles = {"archive": "archive", "day": "+ one-day update", "quarter": "+ one-quarter update"}
    table = Table(title=f"scale benchmark: {info['pairs']} pairs x 8 intervals, {info['archive_rows']:,} rows "
                        f"(scale {info['scale']})")
    table.add_column("step")
    for p in phases:
        table.add_column(titles[p.name])
    table.add_column("target")
    for step, cells, target in table_rows(phases, info, rebuild):
        table.add_row(step, *cells, target)
    Console(width=180).print(table)
    for p in phases:
        for error in p.errors:
            print(f"{p.name}: {error}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**info, "targets": TARGETS, "phases": [asdict(p) for p in phases]}, indent=2))
    print(f"written: {out}")


# ----------------------------------------------------------------------------------------- main

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=str(DEFAULT_PAIRS),
                        help=f"pairs in the archive (default {DEFAULT_PAIRS}: >= 40 M rows; 600: the issue's "
                             f"size); max: the largest that fits the free disk and --max-gib")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of every interval's depth (quick checks)")
    parser.add_argument("--root", type=Path, default=REPO / ".state" / "bench",
                        help="where the run's folder goes (default .state/bench)")
    parser.add_argument("--json", type=Path, help="where the results go (default <root>/scale_bench-<time>.json)")
    parser.add_argument("--workers", type=int, default=2, help="processes writing the CSV files")
    parser.add_argument("--max-gib", type=float, default=25.0,
                        help="the most disk --pairs max may take (default 25, about 470 pairs)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (store, catalog, logs)")
    args = parser.parse_args()
    if args.pairs != "max" and (not args.pairs.isdigit() or int(args.pairs) < 2):
        parser.error("--pairs: a whole number of at least 2, or max")
    if not 0 < args.scale <= 1:
        parser.error("--scale: a fraction in (0, 1]")
    return args


def main() -> int:
    args = parse_args()
    today = int(time.time()) // DAY * DAY
    end = today - QUARTER_DAYS * DAY  # the archive ends a quarter ago; the quarterly update ends today
    args.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.root).free
    if args.pairs == "max":
        count = largest_fitting(free, end, args.scale, int(args.max_gib * GIB))
        if count < 2:
            raise SystemExit(f"no archive fits: {free / GIB:.1f} GiB free in {args.root}")
    else:
        count = int(args.pairs)
    pairs = shape.make_pairs(count)
    expected, needed = estimate_bytes(pairs, end, args.scale)
    print(f"{count} pairs x 8 intervals: about {expected:,} rows; disk needed about {needed / GIB:.1f} GiB, free "
          f"{free / GIB:.1f} GiB in {args.root} [load {loadavg()}]", flush=True)
    if needed + RESERVE > free:
        raise SystemExit(f"refused: the run needs about {needed / GIB:.1f} GiB (and {RESERVE / GIB:.0f} GiB left "
                         f"free) but {args.root} has {free / GIB:.1f} GiB free (fewer --pairs, or another --root)")

    from tests.support.fake_kraken import FakeKraken

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = args.root / f"scale-{stamp}"
    work.mkdir()
    qdb = fake = web = None
    try:
        qdb = start_questdb(work / "questdb")
        fake = FakeKraken(datetime.now(UTC)).start()
        for pair in pairs:
            fake.add_pair(pair.name, pair.name, f"{pair.base}/{pair.quote}")
        (work / "state").mkdir()
        env = env_for(qdb[1], work / "catalog.sqlite3", import_dir=import_dir_of(work / "questdb"))
        env.update(FEEFIFOFUNDS_STATE_DIR=str(work / "state"), KRAKEN_API_URL=fake.url,
                   KRAKEN_API_RATE_PER_SECOND="1")
        env.pop("DJANGO_SECRET_KEY", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=REPO, env=env,
                       check=True)
        web, base = serve(env, work / "serve.log")
        rebuild = rebuild_command(env)
        liquid = min(pairs, key=lambda p: p.missing_1m)
        illiquid = max(pairs, key=lambda p: p.missing_1m)
        workers = args.workers

        phases = [Phase("archive"), Phase("day"), Phase("quarter")]
        writes = {
            "archive": (lambda d: shape.write_archive(d, pairs, end, scale=args.scale, workers=workers), end),
            "day": (lambda d: shape.write_update(d, pairs, end, end + DAY, part=1, workers=workers), end + DAY),
            "quarter": (lambda d: shape.write_update(d, pairs, end - OVERLAP_DAYS * DAY, today, part=2,
                                                     workers=workers), today),
        }
        for phase in phases:
            write, phase_end = writes[phase.name]
            run_phase(phase, write, work, env, qdb, base, (liquid, illiquid), phase_end, rebuild)
        server.stop(qdb[0].pid)
        qdb = None
        at_rest = folder_bytes(work / "questdb" / "db")[0]  # a stopped server gives back what it preallocated
        info = {"pairs": count, "scale": args.scale, "archive_rows": phases[0].rows, "archive_end":
                datetime.fromtimestamp(end, UTC).isoformat(), "measured_at": stamp, "questdb": server.QUESTDB_VERSION,
                "candles_series": f"{liquid.name} 1 min", "gaps_series": f"{illiquid.name} 1 min",
                "rebuild_command": " ".join(rebuild) if rebuild else None, "cpus": os.cpu_count(),
                "estimated_peak_bytes": needed, "store_bytes_at_rest": at_rest,
                "store_bytes_row_at_rest": at_rest / phases[-1].stored_rows}
        report(phases, info, rebuild is not None, args.json or args.root / f"scale_bench-{stamp}.json")
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=60)
        if fake is not None:
            fake.stop()
        if qdb is not None:
            server.stop(qdb[0].pid)
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
