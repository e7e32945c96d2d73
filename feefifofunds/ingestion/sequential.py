"""The main job: a Kraken OHLCVT archive into QuestDB, file after file, fast and loss-free.

Two phases per run, kept apart on purpose:

* **Planning** (no writes): ``plan()`` fixes the order files are applied in, and ``archive.check_file``
  validates a WHOLE file (every rule of ``sources/validation.py``, times strictly increasing) before any of its rows
  is buffered, so a malformed file is never half-written and creates no asset.
* **Writing** (``ingest_files``): rows of several files share acknowledged ILP/HTTP flushes; a file moves
  to the ingested folder only once the flush holding its last row has been acknowledged. Killing the
  process at any point and running again ends with exactly the source data: unmoved files are sent again
  and QuestDB's DEDUP absorbs the repeats.

Order and overlaps: the files of one series (pair, interval) are applied by their first timestamp (the
complete archive, which starts at the pair's listing, before the quarterly updates, oldest update
first), each in a transaction of its own after the one before it, so where two files disagree on a
candle the newest file's value is what stays (DEDUP UPSERT keys: time, asset, interval, quote, source).
Before writing, the stored candles in the file's time range are read back and compared: the run reports
how many stored candles a file changed.

Outcomes are per file: a file that cannot be serialized fails alone (the client rewinds its buffer on a
failed ``dataframe()`` call; a large file, written in several calls, starts on an empty buffer so its
rows can be dropped alone), and when the server rejects a flush shared by several files, each of them is
sent again on its own, so one file's fault never marks another.
"""

from __future__ import annotations

import errno
import filecmp
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psycopg
from django.db import DatabaseError

from feefifofunds.catalog import ensure_kraken_assets
from feefifofunds.sources import kraken_archive as archive
from feefifofunds.sources.kraken_archive import ArchiveFile, CheckedFile, MalformedFile, SkippedFile
from feefifofunds.store import client, schema
from feefifofunds.store.config import DEFAULT_ALIAS

from .writer import DEFAULT_FLUSH_ROWS, PriceWriter, SeriesKey, WriteError

SOURCE = "kraken"
PRICE_COLUMNS = ("open", "high", "low", "close", "volume", "trade_count")


def fsync_default() -> bool:
    """``FEEFIFOFUNDS_FSYNC=1``: fsync every archived file and its folders (survives a power loss)."""
    return os.environ.get("FEEFIFOFUNDS_FSYNC", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class FileResult:
    file: ArchiveFile
    status: str  # "ingested", "empty", "failed", "vanished"
    rows: int = 0  # rows of this file QuestDB acknowledged (also for a failed file, when some were)
    changed: int = 0  # stored candles whose values this file changed
    error: str = ""  # why it failed, or a note for an ingested file
    archived_as: Path | None = None  # None: an identical copy was archived already (or not archived)


@dataclass
class RunSummary:
    results: list[FileResult] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    elapsed: float = 0.0
    stopped_early: bool = False
    assets_created: int = 0
    error: str = ""  # the run stopped: QuestDB or the catalog failed (the operation is named)
    planned: int = 0

    def by_status(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.results)

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.results)

    @property
    def failed(self) -> list[FileResult]:
        return self.by_status("failed")

    @property
    def not_processed(self) -> int:
        return max(0, self.planned - len(self.results))

    @property
    def ok(self) -> bool:
        return not self.failed and not self.error


class Events:
    """Progress hooks; the command renders them, tests may ignore them."""

    def file_started(self, f: ArchiveFile) -> None: ...
    def rows_sent(self, f: ArchiveFile, rows: int, nbytes: int) -> None: ...
    def file_finished(self, result: FileResult) -> None: ...


class RunStopped(Exception):
    """QuestDB or the catalog failed in a way no later file can avoid; the message names the operation."""


def default_ingested_dir(data_dir: Path) -> Path:
    return data_dir.resolve().parent / "ingested" / "ohlcv"


def estimate_rows(files: list[ArchiveFile], sample_bytes: int = 65536) -> int:
    """Rows expected, from each file's size and the line length of its first bytes (unreadable: 0)."""
    total = 0
    for f in files:
        try:
            with open(f.path, "rb") as fh:
                head = fh.read(sample_bytes)
        except OSError:
            continue
        lines = head.count(b"\n")
        total += f.size // max(1, len(head) // lines) if lines else (1 if head.strip() else 0)
    return total


# --- planning: no writes --------------------------------------------------------------------------


def plan(files: list[ArchiveFile]) -> list[ArchiveFile]:
    """The order files are applied in (documented in the README, relied on for "newest wins").

    Coarse intervals first: a day partition that later receives more rows is rewritten (O3 merge), and
    rewriting it while it holds a few daily candles is cheaper than after the 1-minute rows landed.
    Files of one interval go pair by pair (each flush touches each day partition once for many pairs);
    the files of one series by their first timestamp, then path: the complete archive, which starts
    when the pair was listed, before the quarterly updates, and older updates before newer ones.
    """
    firsts = {f.path: archive.first_time(f.path) for f in files}
    return sorted(files, key=lambda f: (-f.interval_minutes, f.pair, firsts[f.path] or 0, str(f.relative)))


def _describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


def changed_candles(stored: pl.DataFrame, candles: pl.DataFrame) -> int:
    """Stored candles (same time) whose values differ from ``candles`` (null-safe, exact floats)."""
    if stored.height == 0 or candles.height == 0:
        return 0
    joined = stored.join(candles.select("time", *PRICE_COLUMNS), on="time", how="inner", suffix="_new")
    if joined.height == 0:
        return 0
    differs = pl.any_horizontal([pl.col(c).cast(pl.Float64).ne_missing(pl.col(f"{c}_new").cast(pl.Float64))
                                 for c in PRICE_COLUMNS])
    return int(joined.select(differs.sum()).item())


def stored_candles(alias: str, key: SeriesKey, first: int, last: int) -> pl.DataFrame:
    """What QuestDB holds for one series between two Unix times (inclusive), ``time`` as Unix seconds."""
    rows = client.query(
        f"SELECT cast(time AS LONG) / 1000000, {', '.join(PRICE_COLUMNS)} FROM {schema.TABLE} "
        "WHERE asset_id = %s AND interval_minutes = %s AND quote_currency = %s AND source = %s "
        "AND time >= %s AND time <= %s",
        (key.asset_id, key.interval_minutes, key.quote_currency, key.source,
         datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)), alias=alias)
    return pl.DataFrame(rows, schema={"time": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
                                      "close": pl.Float64, "volume": pl.Float64, "trade_count": pl.Int64},
                        orient="row")


# --- archiving the originals ----------------------------------------------------------------------


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_content(a: Path, b: Path) -> bool:
    return filecmp.cmp(a, b, shallow=False)


def archive_destination(f: ArchiveFile, ingested_dir: Path, run_folder: str) -> Path | None:
    """Where the original goes in the ingested folder; None if a byte-identical copy is there already.

    Never an existing file: the quarterly updates all put ``XBTUSD_60.csv`` at their root, so when the
    name is taken by a different file, the new one goes to ``<run_folder>/<relative path>``.
    """
    primary = ingested_dir / f.relative
    candidates = [primary]
    if ingested_dir.is_dir():
        candidates += [d / f.relative for d in sorted(ingested_dir.glob("run-*")) if d.is_dir()]
    for existing in candidates:
        if existing.is_file() and _same_content(existing, f.path):
            return None
    if not primary.exists():
        return primary
    dest = ingested_dir / run_folder / f.relative
    if dest.exists():  # two runs within one second: make the folder unique by content
        digest = hashlib.sha256(f.path.read_bytes()).hexdigest()[:12]
        dest = ingested_dir / f"{run_folder}-{digest}" / f.relative
    return dest


def archive_original(f: ArchiveFile, ingested_dir: Path, run_folder: str, *, fsync: bool) -> Path | None:
    """Move the ingested file out of the data directory without ever replacing an archived file."""
    dest = archive_destination(f, ingested_dir, run_folder)
    if dest is None:
        f.path.unlink()
        if fsync:
            _fsync_path(f.path.parent)
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(f.path, dest)  # fails rather than replace an existing file
        f.path.unlink()
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # another filesystem: copy, then delete
            raise
        shutil.copy2(f.path, dest)
        f.path.unlink()
    if fsync:
        _fsync_path(dest)
        _fsync_path(dest.parent)
        _fsync_path(f.path.parent)
    return dest


# --- writing ---------------------------------------------------------------------------------------


@dataclass
class _Pending:
    result: FileResult
    key: SeriesKey


class _Run:
    """State of one run: the writer, files waiting for an acknowledgement, what was written."""

    def __init__(self, writer: PriceWriter, *, alias: str, ingested_dir: Path, events: Events, flush_rows: int,
                 chunk_bytes: int, fsync: bool, summary: RunSummary):
        self.writer, self.alias, self.ingested_dir, self.events = writer, alias, ingested_dir, events
        self.flush_rows, self.chunk_bytes, self.fsync, self.summary = flush_rows, chunk_bytes, fsync, summary
        self.run_folder = "run-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.pending: list[_Pending] = []
        self.assets: dict[str, object] = {}
        self.series_seen: set[SeriesKey] = set()
        self.new_assets: set[int] = set()

    # outcomes
    def finish(self, result: FileResult) -> None:
        self.summary.results.append(result)
        self.events.file_finished(result)

    def fail(self, f: ArchiveFile, message: str, rows: int = 0) -> None:
        self.finish(FileResult(f, "failed", rows=rows, error=message))

    def acknowledge(self) -> None:
        """Everything buffered is acknowledged: archive the pending files."""
        self.writer.acknowledged()  # every pending file is among them
        self.archive(self.pending)
        self.pending.clear()

    def acknowledge_tagged(self) -> None:
        """Archive the pending files the writer reports acknowledged (its flushes run in the background)."""
        done = set(self.writer.acknowledged())
        if done:
            self.archive([p for p in self.pending if p.result.file in done])
            self.pending = [p for p in self.pending if p.result.file not in done]

    def archive(self, acknowledged: list[_Pending]) -> None:
        for p in acknowledged:
            result = p.result
            try:
                result.archived_as = archive_original(result.file, self.ingested_dir, self.run_folder,
                                                      fsync=self.fsync)
                if result.archived_as is None:
                    result.error = "identical to a file already in the ingested folder: kept once"
            except FileNotFoundError:
                result.error = "stored, but the file was moved away by someone else before it could be archived"
            except OSError as exc:
                result.status = "failed"
                result.error = (f"{result.file.path}: rows stored, but the file cannot be moved to "
                                f"{self.ingested_dir}: {_describe_os_error(exc)}")
            self.finish(result)

    def flush(self, *, wait: bool = True) -> None:
        """Send what is buffered, waiting for it, or (``wait=False``) handing it to a background flush so
        QuestDB takes it in while the next files are parsed; on a rejected shared flush, give each file
        its own chance."""
        try:
            if wait:
                self.writer.flush()
            else:
                self.writer.send()
        except WriteError as exc:
            self.refused(exc)
            return
        if wait:
            self.acknowledge()
        else:
            self.acknowledge_tagged()

    def refused(self, exc: WriteError) -> None:
        """A flush was rejected: empty the writer (what else is buffered goes out), then send each file of
        the rejected flush again on its own."""
        failed = set(exc.tags)
        while True:
            try:
                self.writer.flush()
                break
            except WriteError as more:
                failed |= set(more.tags)
        batch = [p for p in self.pending if p.result.file in failed]
        self.pending = [p for p in self.pending if p.result.file not in failed]
        self.acknowledge()
        self.retry_alone(batch, exc)

    def server_answers(self) -> bool:
        try:
            client.ping(self.alias)
        except client.QuestDBError:
            return False
        return True

    def retry_alone(self, batch: list[_Pending], exc: WriteError) -> None:
        server_up = self.server_answers()
        if len(batch) <= 1 or not server_up:
            for p in batch:
                self.fail(p.result.file, f"not acknowledged: {exc}")
            if not server_up:
                raise RunStopped(f"writing to QuestDB: {exc}")
            return
        for p in batch:  # which file did the server refuse? send each one alone
            f = p.result.file
            try:
                checked = archive.check_file(f.path, f.interval_minutes, chunk_bytes=self.chunk_bytes,
                                             keep_bytes=self.chunk_bytes)
                for df, _ in self.chunks(f, checked):
                    self.writer.add(df, p.key)
                    self.writer.flush()
            except (WriteError, MalformedFile, OSError) as again:
                self.writer.discard()
                self.fail(p.result.file, f"not acknowledged: {again}")
                continue
            self.pending.append(p)
            self.acknowledge()

    # the steps of one file
    def asset(self, f: ArchiveFile):
        """The file's asset, created now (the file is valid and QuestDB answers) if it is new."""
        if f.base not in self.assets:
            try:
                found, created = ensure_kraken_assets({f.base})
            except DatabaseError as exc:
                raise RunStopped(f"creating asset {f.base} in the catalog: {exc}") from None
            self.assets[f.base] = found[f.base]
            if created:
                self.summary.assets_created += 1
                self.new_assets.add(found[f.base].pk)
        return self.assets[f.base]

    def count_changed(self, key: SeriesKey, df: pl.DataFrame) -> int:
        if key.asset_id in self.new_assets and key not in self.series_seen or df.height == 0:
            return 0  # nothing can be stored for an asset created by this run
        try:
            stored = stored_candles(self.alias, key, df.item(0, "time"), df.item(df.height - 1, "time"))
        except (client.QuestDBError, psycopg.Error) as exc:
            raise RunStopped(f"reading stored candles of {key} to compare: {exc}") from None
        return changed_candles(stored, df)

    def chunks(self, f: ArchiveFile, checked: CheckedFile):
        if checked.frames is not None:
            frames = [pl.concat(checked.frames)] if len(checked.frames) > 1 else checked.frames
            yield from ((df, f.size if i == 0 else 0) for i, df in enumerate(frames))
            return
        previous = None  # read again: validated again, so a file changed meanwhile cannot slip through
        for first_line, df, nbytes in archive.iter_chunks(f.path, self.chunk_bytes):
            archive.check_chunk(f.path, first_line, df, f.interval_minutes, previous=previous)
            if df.height:
                previous = df.item(df.height - 1, "time")
            yield df, nbytes

    def ingest(self, f: ArchiveFile) -> bool:
        """Validate, write (buffered) and, once acknowledged, archive one file; False if it failed."""
        self.events.file_started(f)
        try:
            if not archive.has_data(f.path):
                f.path.unlink()
                self.finish(FileResult(f, "empty"))
                return True
            checked = archive.check_file(f.path, f.interval_minutes, chunk_bytes=self.chunk_bytes,
                                         keep_bytes=self.chunk_bytes)
        except FileNotFoundError:
            self.finish(FileResult(f, "vanished", error="disappeared before it was read (moved or deleted "
                                                        "by someone else); nothing written from it"))
            return True
        except MalformedFile as exc:
            self.fail(f, str(exc))
            return False
        except OSError as exc:
            self.fail(f, f"{f.path}: cannot read: {_describe_os_error(exc)}")
            return False
        key = SeriesKey(self.asset(f).pk, f.interval_minutes, f.quote, SOURCE)
        if key in self.series_seen:
            # An earlier file of this series is in this run: it must be committed (and visible) first, so
            # this newer one wins where they disagree and the comparison sees what it changes.
            self.flush()
            self.wait_visible()
        large = checked.frames is None
        if large and self.writer.pending_rows:
            self.flush()  # a large file starts on an empty buffer, so its rows can be dropped alone
        self.series_seen.add(key)
        acknowledged_before = self.writer.rows_acknowledged
        rows = changed = 0
        try:
            for df, nbytes in self.chunks(f, checked):
                changed += self.count_changed(key, df)
                self.writer.add(df, key)
                rows += df.height
                self.events.rows_sent(f, df.height, nbytes)
                if large and self.writer.pending_rows >= self.flush_rows:
                    self.writer.flush()
            result = FileResult(f, "ingested", rows=rows, changed=changed)
        except (WriteError, MalformedFile, OSError) as exc:
            stored = self.writer.rows_acknowledged - acknowledged_before
            if large:
                self.writer.discard()  # only this file's rows are in the buffer
            # A small file is one dataframe() call: the client rewound the buffer to before it.
            note = f" ({stored:,} of its rows were stored before the failure)" if stored else ""
            message = str(exc) if isinstance(exc, MalformedFile) else f"{f.path}: {exc}"
            self.fail(f, message + note, rows=stored)
            if isinstance(exc, WriteError) and not self.server_answers():
                raise RunStopped(f"writing to QuestDB: {exc}") from None
            return False
        self.pending.append(_Pending(result, key))
        self.writer.done(f)  # reported by writer.acknowledged() once all its rows are
        if large:
            self.flush()
        elif self.writer.buffered_rows >= self.flush_rows:
            self.flush(wait=False)
        return True

    def wait_visible(self) -> None:
        try:
            self.writer.wait_visible()
        except client.QuestDBError as exc:
            raise RunStopped(f"waiting for QuestDB to apply the written rows: {exc}") from None


def ingest_files(
    files: list[ArchiveFile],
    *,
    alias: str = DEFAULT_ALIAS,
    ingested_dir: Path,
    stop_on_error: bool = False,
    events: Events | None = None,
    flush_rows: int = DEFAULT_FLUSH_ROWS,
    chunk_bytes: int = archive.CHUNK_BYTES,
    fsync: bool | None = None,
    now: Callable[[], float] = time.monotonic,
    writer_class: type[PriceWriter] = PriceWriter,
) -> RunSummary:
    """Validate, write and archive ``files`` in ``plan()`` order; never raises for a file or QuestDB
    problem: the summary tells (``summary.error`` when the run had to stop)."""
    events = events or Events()
    summary = RunSummary()
    started = now()
    ordered = plan(files)
    summary.planned = len(ordered)
    fsync = fsync_default() if fsync is None else fsync
    try:
        # flush_rows is handled here (a file is never split across flushes unless it is large)
        with writer_class(alias, flush_rows=sys.maxsize) as writer:
            run = _Run(writer, alias=alias, ingested_dir=ingested_dir, events=events, flush_rows=flush_rows,
                       chunk_bytes=chunk_bytes, fsync=fsync, summary=summary)
            try:
                for f in ordered:
                    if not run.ingest(f) and stop_on_error:
                        summary.stopped_early = True
                        break
                run.flush()
                if summary.rows:
                    run.wait_visible()
            except RunStopped as exc:
                summary.error = str(exc)
                writer.discard()
                for p in run.pending:
                    run.fail(p.result.file, f"not acknowledged: the run stopped ({exc})")
                run.pending.clear()
    except WriteError as exc:
        summary.error = str(exc)
    except client.QuestDBError as exc:
        summary.error = f"QuestDB: {exc}"
    summary.elapsed = now() - started
    return summary
