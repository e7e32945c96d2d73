"""Time-ordered sending across files: stage parsed, validated files in a columnar scratch copy, then send
all staged rows window by window in time order, so QuestDB appends instead of merging.

File by file, every new pair lands in partitions that already hold other pairs' rows, and QuestDB rewrites
them (out-of-order merges); rows that arrive in time order are appended, which roughly doubles what the
server takes in (README: benchmarks). The archive's files are sorted by series, not by time, so the rows
are first staged: each file, once validated, is written to an Arrow IPC file in a scratch folder (record
batches of 64 K rows with their time bounds kept in memory), and an hourly row histogram is kept. Sending
then cuts time into windows of about ``window_rows`` rows, reads every staged file's rows of one window
(only the record batches whose bounds overlap) and hands them to the writer tagged with the files they
came from. Rows inside a window are not sorted (files in staging order, each in its own order): QuestDB
sorts one commit's rows in memory, cheaply; what saves the merges is that every commit's rows come after
the rows already stored. Measured: sorting each window cost the client ~0.3 us/row and the server nothing
it could tell. For two files of one series in one window the later-staged file's rows come later, and
DEDUP keeps the last (the archive job never stages two files of one series together: ``rounds``).
A file is declared done after the window holding its last row, so the writer
reports it acknowledged only when all its rows are.

The scratch folder is one per run under ``root`` and is removed at the end; folders left by a killed run
are removed when the next run opens the staging (the caller holds the data directory lock, so no other
run is using them). Disk use is bounded by ``max_bytes``: the caller sends and clears the staged files
whenever ``full`` says so. A disk that fills all the same (another program, or one file larger than what is
left) raises ``DiskFull`` naming the staging folder; what was staged of that file is removed first.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from feefifofunds.diskfull import full, is_full
from feefifofunds.store import arrow
from feefifofunds.store.series import SeriesKey

from ..writer import PriceWriter, SeriesColumns, WriteError

BATCH_ROWS = 65_536
BUCKET_SECONDS = 3600  # windows are whole hours
SPLIT_SECONDS = 30 * 86400  # a record batch never spans two of these
MAX_OPEN = 512  # staged files open at once
DEFAULT_WINDOW_ROWS = 250_000
DEFAULT_MAX_BYTES = int(os.environ.get("FEEFIFOFUNDS_STAGING_MAX_BYTES", 8 * 2**30))
STAGE_SCHEMA = pa.schema([("time", pa.int64()), ("open", pa.float64()), ("high", pa.float64()),
                          ("low", pa.float64()), ("close", pa.float64()), ("volume", pa.float64()),
                          ("trade_count", pa.int64())])


GROUP_SCHEMA = STAGE_SCHEMA.append(pa.field("member", pa.int32()))


@dataclass
class StagedFile:
    tag: Hashable
    key: SeriesKey
    path: Path
    nbytes: int = 0  # the source file's size
    rows: int = 0
    ordered: bool = True  # times never decrease (every archive file): a window's rows are a slice
    bounds: list[tuple[int, int]] = field(default_factory=list)  # (min, max) time of each record batch

    @property
    def last(self) -> int:
        return max(b[1] for b in self.bounds)

    @property
    def tags(self) -> list[Hashable]:
        return [self.tag]

    def ends(self) -> list[tuple[Hashable, int]]:
        """Each file staged here and its last time (it is done after the window holding it)."""
        return [(self.tag, self.last)]


@dataclass
class StagedGroup:
    """Many small files staged as one scratch file (``Staging.stage_together``): their rows sorted by time,
    each with ``member``, its file's index in ``tags`` and ``keys``; one file to write and read back instead
    of one per file. Like ``StagedFile.key``, ``keys`` may be set after staging (assets created once the
    files proved valid)."""

    tags: list[Hashable]
    keys: list[SeriesKey]
    lasts: list[int]  # each file's last time
    path: Path
    nbytes: int = 0  # the source files' size
    rows: int = 0
    ordered: bool = True  # sorted by time
    bounds: list[tuple[int, int]] = field(default_factory=list)

    @property
    def last(self) -> int:
        return max(self.lasts)

    def ends(self) -> list[tuple[Hashable, int]]:
        return list(zip(self.tags, self.lasts, strict=True))

    def window_table(self, batches: list[pa.RecordBatch], quotes: dict[str, int]) -> tuple[pa.Table, list[Hashable]]:
        """A window's rows of the group with the series columns of a window (``quote_code`` in the window's
        codes, ``quotes``, extended as needed), and the files they belong to."""
        table = pa.Table.from_batches(batches).combine_chunks()
        member = arrow.to_numpy(table.column("member"))
        table = table.drop_columns(["member"])
        for name, values, dtype in (("asset_id", [k.asset_id for k in self.keys], np.int32),
                                    ("interval_minutes", [k.interval_minutes for k in self.keys], np.int32),
                                    ("quote_code", [quotes.setdefault(k.quote_currency, len(quotes))
                                                    for k in self.keys], np.int16)):
            table = table.append_column(name, arrow.array(np.asarray(values, dtype=dtype)[member]))
        return table, [self.tags[m] for m in np.unique(member).tolist()]


@dataclass(frozen=True)
class Window:
    start: int  # Unix seconds, inclusive
    end: int  # exclusive
    rows: int


@dataclass
class WindowRows:
    """A window's rows of every staged file: ``quote_code`` indexes ``quotes``; ``tags`` are the files with
    rows in it, in staging order."""

    window: Window
    frame: pl.DataFrame
    tags: list[Hashable]
    quotes: list[str]


class Staging:
    """A scratch folder of staged files for one run; use as a context manager."""

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.dir: Path | None = None
        self.files: list[StagedFile | StagedGroup] = []
        self.bytes = 0
        self.rows = 0  # staged rows (kept as a count: callers ask after every file)
        self._hours: list[tuple[np.ndarray, np.ndarray]] = []  # (hour, rows) of each staged chunk
        self._staged_count = 0

    def __enter__(self) -> Staging:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for leftover in self.root.iterdir():  # earlier runs, killed before they could clean up
                if leftover.is_dir() and leftover.name.startswith("run-"):
                    shutil.rmtree(leftover, ignore_errors=True)
            self.dir = self.root / f"run-{os.getpid()}-{time.time_ns()}"
            self.dir.mkdir()
        except OSError as exc:
            if is_full(exc):
                raise full("the staging folder", self.root, exc) from None
            raise
        # Never fill the disk: send (and clear) once half of what is free now is staged.
        self.max_bytes = min(self.max_bytes, max(64 * 2**20, shutil.disk_usage(self.dir).free // 2))
        return self

    def __exit__(self, *exc_info) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            try:
                self.root.rmdir()  # no hidden folder left beside the user's data (only if empty)
            except OSError:
                pass

    def detach(self) -> Staging:
        """Hand what is staged so far to another owner (to be sent while staging goes on here): the part
        shares the scratch folder, removes its own files when sent, and this staging starts empty."""
        part = copy.copy(self)
        self.files, self._hours, self.bytes, self.rows = [], [], 0, 0
        return part

    @property
    def full(self) -> bool:
        return self.bytes >= self.max_bytes

    def stage(self, tag: Hashable, key: SeriesKey, chunks: Iterable[pl.DataFrame], *,
              nbytes: int = 0) -> StagedFile:
        """Write a file's (validated) chunks to the scratch folder. If ``chunks`` raises (a malformed line
        found late), nothing of this file stays staged and the exception goes on to the caller.

        Record batches never span two 30-day buckets, so a window reads only the batches of its own time
        (a daily file of ten years is ~120 small batches, not one batch read and filtered by every window).
        ``nbytes`` (the source file's size) lets a caller report sending progress in bytes. No space left for
        the staged copy: ``DiskFull`` (reading the source never raises that errno, writing the copy does).
        """
        if self.dir is None:
            raise RuntimeError("Staging used outside its `with` block")
        self._staged_count += 1
        staged = StagedFile(tag, key, self.dir / f"{self._staged_count:06d}.arrow", nbytes=nbytes)
        hours: list[tuple[np.ndarray, np.ndarray]] = []
        with self._written(staged.path), pa.OSFile(str(staged.path), "wb") as sink, \
                pa.ipc.new_file(sink, STAGE_SCHEMA) as out:
            for df in chunks:
                if df.height == 0:
                    continue
                table = df.select(STAGE_SCHEMA.names).to_arrow().cast(STAGE_SCHEMA).combine_chunks()
                times = arrow.to_numpy(table.column(0))
                if staged.ordered and (np.any(np.diff(times) < 0) or (staged.bounds and
                                                                     times[0] < staged.bounds[-1][1])):
                    staged.ordered = False
                bucket = times // SPLIT_SECONDS
                cuts = [0, *(np.flatnonzero(np.diff(bucket)) + 1).tolist(), len(times)]
                for lo, hi in zip(cuts, cuts[1:], strict=False):
                    for at in range(lo, hi, BATCH_ROWS):
                        end = min(hi, at + BATCH_ROWS)
                        part = times[at:end]
                        staged.bounds.append((int(part.min()), int(part.max())))
                        out.write_batch(table.slice(at, end - at).to_batches()[0])
                staged.rows += len(times)
                hours.append(np.unique(times // BUCKET_SECONDS, return_counts=True))
        if staged.rows == 0:
            staged.path.unlink(missing_ok=True)
            return staged
        self._hours.extend(hours)
        self.files.append(staged)
        self.bytes += staged.path.stat().st_size
        self.rows += staged.rows
        return staged

    def stage_together(self, tags: list[Hashable], keys: list[SeriesKey], frame: pl.DataFrame, lasts: list[int], *,
                       nbytes: int = 0) -> StagedGroup:
        """Stage many small files at once, as one scratch file: ``frame`` holds all their (validated) rows, each
        file's together, its index in ``tags``, ``keys`` and ``lasts`` (its last time) in a ``segment``
        column. Nothing stays staged if writing fails (no space left: ``DiskFull``)."""
        if self.dir is None:
            raise RuntimeError("Staging used outside its `with` block")
        self._staged_count += 1
        path = self.dir / f"{self._staged_count:06d}.arrow"
        segment = frame.get_column("segment").to_numpy().astype(np.int32)
        table = frame.select(STAGE_SCHEMA.names).to_arrow().cast(STAGE_SCHEMA)
        table = table.append_column("member", arrow.array(segment))
        times = arrow.to_numpy(table.column(0))
        order = np.argsort(times, kind="stable")
        table, times = table.take(arrow.array(order)), times[order]
        group = StagedGroup(list(tags), list(keys), list(lasts), path, nbytes=nbytes, rows=len(times))
        with self._written(path), pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, GROUP_SCHEMA) as out:
            for at in range(0, len(times), BATCH_ROWS):
                end = min(len(times), at + BATCH_ROWS)
                group.bounds.append((int(times[at]), int(times[end - 1])))
                out.write_batch(table.slice(at, end - at).combine_chunks().to_batches()[0])
        self._hours.append(np.unique(times // BUCKET_SECONDS, return_counts=True))
        self.files.append(group)
        self.bytes += path.stat().st_size
        self.rows += group.rows
        return group

    @contextmanager
    def _written(self, path: Path) -> Iterator[None]:
        """A staged file being written: if anything fails, nothing of it stays; no space left is DiskFull
        (reading the source never raises that errno, writing the copy does)."""
        try:
            yield
        except OSError as exc:
            path.unlink(missing_ok=True)
            if is_full(exc):
                raise full("the staging folder", self.root, exc) from None
            raise
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def windows(self, window_rows: int = DEFAULT_WINDOW_ROWS) -> list[Window]:
        """Consecutive time ranges of about ``window_rows`` staged rows each (whole hours; an hour holding
        more rows than that is a window of its own)."""
        out: list[Window] = []
        if not self._hours:
            return out
        hours, where = np.unique(np.concatenate([h for h, _ in self._hours]), return_inverse=True)
        counts = np.bincount(where, weights=np.concatenate([c for _, c in self._hours])).astype(np.int64)
        start = rows = None
        for bucket, n in zip(hours.tolist(), counts.tolist(), strict=True):
            if start is not None and rows + n > window_rows:
                out.append(Window(start * BUCKET_SECONDS, bucket * BUCKET_SECONDS, rows))
                start = None
            if start is None:
                start, rows = bucket, 0
            rows += n
        if start is not None:
            out.append(Window(start * BUCKET_SECONDS, (int(hours[-1]) + 1) * BUCKET_SECONDS, rows))
        return out

    def read_windows(self, windows: list[Window]) -> Iterator[WindowRows]:
        """Every staged row of each window in turn (files in staging order; not sorted within the window).

        One sweep over all record batches ordered by start time: a window looks only at the batches that
        overlap it, and a staged file stays open only while windows still need its rows. Batches are read
        into memory, not memory-mapped: mapped pages would stay resident (and count) until the end.
        """
        entries = sorted((lo, hi, fi, bi) for fi, staged in enumerate(self.files)
                         for bi, (lo, hi) in enumerate(staged.bounds))
        following = 0
        active: list[tuple[int, int, int, int]] = []
        readers: dict[int, pa.ipc.RecordBatchFileReader] = {}
        try:
            for window in windows:
                while following < len(entries) and entries[following][0] < window.end:
                    active.append(entries[following])
                    following += 1
                active = [e for e in active if e[1] >= window.start]
                for fi in [fi for fi in readers if self.files[fi].last < window.start]:
                    del readers[fi]  # no later window needs this file: close it
                yield self._window_rows(window, active, readers)
        finally:
            readers.clear()

    def _window_rows(self, window: Window, active: list[tuple[int, int, int, int]],
                     readers: dict[int, pa.ipc.RecordBatchFileReader]) -> WindowRows:
        by_file: dict[int, list[tuple[int, int, int]]] = {}
        for lo, hi, fi, bi in active:
            by_file.setdefault(fi, []).append((bi, lo, hi))
        pieces: list[pa.Table] = []  # in staging order: for two files of one series, the later one's rows last
        batches: list[pa.RecordBatch] = []  # of files staged alone, since the last piece
        series: list[tuple[int, int, int, int]] = []  # (asset_id, interval, quote code, rows) of each of them
        tags: list[Hashable] = []
        quotes: dict[str, int] = {}

        def per_row(i: int, dtype) -> pa.Array:  # one value per file, repeated over its rows
            return arrow.array(np.repeat(np.array([s[i] for s in series], dtype), [s[3] for s in series]))

        def files_alone() -> None:
            if batches:
                table = pa.Table.from_batches(batches).combine_chunks()
                pieces.append(table.append_column("asset_id", per_row(0, np.int32))
                              .append_column("interval_minutes", per_row(1, np.int32))
                              .append_column("quote_code", per_row(2, np.int16)))
                batches.clear()
                series.clear()

        for fi in sorted(by_file):
            staged = self.files[fi]
            reader = readers.get(fi)
            if reader is None:
                if len(readers) >= MAX_OPEN:
                    readers.clear()
                reader = readers[fi] = pa.ipc.open_file(pa.OSFile(str(staged.path)))
            got = []
            for bi, lo, hi in sorted(by_file[fi]):
                batch = reader.get_batch(bi)
                if lo < window.start or hi >= window.end:
                    batch = _within(batch, window, staged.ordered)
                if batch.num_rows:
                    got.append(batch)
            if not got:
                continue
            if isinstance(staged, StagedGroup):
                files_alone()
                table, members = staged.window_table(got, quotes)
                pieces.append(table)
                tags += members
                continue
            batches += got
            code = quotes.setdefault(staged.key.quote_currency, len(quotes))
            series.append((staged.key.asset_id, staged.key.interval_minutes, code, sum(b.num_rows for b in got)))
            tags.append(staged.tag)
        files_alone()
        if not pieces:
            return WindowRows(window, pl.DataFrame(), [], [])
        frame = pl.from_arrow(pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0])
        return WindowRows(window, frame, tags, list(quotes))

    def send(self, writer: PriceWriter, *, window_rows: int = DEFAULT_WINDOW_ROWS, source: str = "kraken",
             on_window: Callable[[Window], None] | None = None,
             on_error: Callable[[WriteError], None] | None = None) -> int:
        """Send every staged row in time order; each file is ``done`` after the window with its last row.

        A rejected flush (``WriteError``, whose ``tags`` name the files with rows in it) goes to
        ``on_error`` and sending goes on (without ``on_error`` it is raised). Returns the rows handed to
        the writer; the staged files are removed afterwards (``clear``).
        """
        sent = 0
        by_last: dict[int, list[Hashable]] = {}
        windows = self.windows(window_rows)
        ends = [w.end for w in windows]
        for staged in self.files:
            for tag, last in staged.ends():
                by_last.setdefault(int(np.searchsorted(ends, last, side="right")), []).append(tag)
        for i, rows in enumerate(self.read_windows(windows)):
            try:
                if rows.frame.height:
                    sent += rows.frame.height
                    writer.add(rows.frame, SeriesColumns(rows.quotes, source), tags=rows.tags)
            except WriteError as exc:  # a refused buffer (its files fail); the other files go on
                if on_error is None:
                    raise
                on_error(exc)
            for tag in by_last.get(i, []):
                writer.done(tag)
            if on_window:
                on_window(rows.window)
        self.clear()
        return sent

    def clear(self) -> None:
        for staged in self.files:
            staged.path.unlink(missing_ok=True)
        self.files.clear()
        self._hours.clear()
        self.bytes = 0
        self.rows = 0



def _within(batch: pa.RecordBatch, window: Window, ordered: bool) -> pa.RecordBatch:
    """The rows of ``batch`` inside ``window``: a zero-copy slice when the batch's times never decrease."""
    if ordered:
        times = arrow.to_numpy(batch.column(0))
        lo, hi = np.searchsorted(times, [window.start, window.end], side="left")
        return batch.slice(int(lo), int(hi - lo))
    t = batch.column(0)
    return batch.filter(pc.and_(pc.greater_equal(t, window.start), pc.less(t, window.end)))
