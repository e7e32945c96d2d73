"""The main job: a Kraken OHLCVT archive into QuestDB, fast and loss-free.

* **Planning** (no writes): ``plan()`` fixes the order files are applied in and ``rounds()`` splits it so
  no two files of one series share a round; ``archive.check_file`` validates a WHOLE file (every rule of
  ``sources/validation.py``, times strictly increasing) before any of its rows is staged, so a malformed
  file is never half-written and creates no asset.
* **Staging and writing in time order** (``ingest_files``): each valid file of a round is staged in a
  columnar scratch copy (``timeorder.Staging``); the round's rows are then sent window by window in time
  order across all its files, so QuestDB appends to its partitions instead of rewriting them for every
  file (out-of-order merges); the writer overlaps serialization with the server's work, and once a part
  of the round is staged it is sent in the background while the next files are read. A file moves to
  the ingested folder only once every flush holding its rows has been acknowledged. Killing the process
  at any point and running again ends with exactly the source data: unmoved files are sent again and
  QuestDB's DEDUP absorbs the repeats; the next run removes the killed run's scratch copy.

Order and overlaps: the files of one series (pair, interval) are applied by their first timestamp (the
complete archive, which starts at the pair's listing, before the quarterly updates, oldest update
first), one per round, each round committed and visible before the next, so where two files disagree on
a candle the newest file's value is what stays (DEDUP UPSERT keys: time, asset, interval, quote, source).
Before staging, the stored candles in the file's time range are read back and compared: the run reports
how many stored candles a file changed.

Outcomes are per file: when the server rejects a flush (or a window's rows cannot be serialized), the
files with rows in it are sent again, each alone, so one file's fault never marks another; a file that
still fails reports how many of its rows the store holds.
"""

from __future__ import annotations

import errno
import filecmp
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import psycopg
from django.db import DatabaseError

from feefifofunds.catalog import ensure_kraken_assets
from feefifofunds.models import Asset
from feefifofunds.sources import kraken_archive as archive
from feefifofunds.sources.kraken_archive import ArchiveFile, MalformedFile, SkippedFile
from feefifofunds.store import client
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.series import PRICE_COLUMNS, SeriesKey, stored_candles

from .timeorder import DEFAULT_MAX_BYTES, DEFAULT_WINDOW_ROWS, Staging, Window
from .writer import DEFAULT_FLUSH_ROWS, PriceWriter, WriteError

SOURCE = "kraken"
# Staged rows handed to the background sender at once (when it is free): large enough that most rows of
# a run go out in time order, small enough that QuestDB starts working while the rest is read.
DEFAULT_PART_ROWS = int(os.environ.get("FEEFIFOFUNDS_PART_ROWS", 1_000_000))


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
    def rows_sent(self, f: ArchiveFile, rows: int, nbytes: int) -> None: ...  # read and staged
    def rows_written(self, rows: int, nbytes: int) -> None: ...  # sent and acknowledged (nbytes: their share)
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
    """The order files are read in (documented in the README, relied on for "newest wins").

    The files of one series by their first timestamp, then path: the complete archive, which starts when
    the pair was listed, before the quarterly updates, and older updates before newer ones (``rounds``
    then sends them in that order). Across series the order only decides what is read first (coarse
    intervals, then pair by pair): the rows go to QuestDB in time order whatever it is.
    """
    firsts = {f.path: archive.first_time(f.path) for f in files}
    return sorted(files, key=lambda f: (-f.interval_minutes, f.pair, firsts[f.path] or 0, str(f.relative)))


def _describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _compare(stored: pl.DataFrame, candles: pl.DataFrame) -> tuple[int, int]:
    """(stored candles at the times of ``candles``, how many of them differ: null-safe, exact floats)."""
    if stored.height == 0 or candles.height == 0:
        return 0, 0
    joined = stored.join(candles.select("time", *PRICE_COLUMNS), on="time", how="inner", suffix="_new")
    if joined.height == 0:
        return 0, 0
    differs = pl.any_horizontal([pl.col(c).cast(pl.Float64).ne_missing(pl.col(f"{c}_new").cast(pl.Float64))
                                 for c in PRICE_COLUMNS])
    return joined.height, int(joined.select(differs.sum()).item())


def changed_candles(stored: pl.DataFrame, candles: pl.DataFrame) -> int:
    """Stored candles (same time) whose values differ from ``candles``."""
    return _compare(stored, candles)[1]


def same_candles(stored: pl.DataFrame, candles: pl.DataFrame) -> int:
    """Candles of ``candles`` that are stored with exactly these values."""
    at_same_time, differ = _compare(stored, candles)
    return at_same_time - differ


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


def rounds(ordered: list[ArchiveFile]) -> list[list[ArchiveFile]]:
    """Split the plan into rounds: the n-th file of every series (pair, quote, interval) goes to round n.

    Within a round no two files share a series, so their rows can be sent in one time-ordered stream;
    a round is committed and visible before the next starts, so a later file of a series wins.
    """
    out: list[list[ArchiveFile]] = []
    seen: dict[tuple[str, str, int], int] = {}
    for f in ordered:
        series = (f.base, f.quote, f.interval_minutes)
        n = seen[series] = seen.get(series, -1) + 1
        if n == len(out):
            out.append([])
        out[n].append(f)
    return out


class _Run:
    """State of one run: the writer, the staging, files waiting for an acknowledgement, what was written."""

    def __init__(self, writer: PriceWriter, staging: Staging, *, alias: str, ingested_dir: Path, events: Events,
                 window_rows: int, part_rows: int, chunk_bytes: int, fsync: bool, summary: RunSummary):
        self.writer, self.staging, self.alias, self.events = writer, staging, alias, events
        self.ingested_dir, self.window_rows, self.chunk_bytes = ingested_dir, window_rows, chunk_bytes
        self.fsync, self.summary = fsync, summary
        self.run_folder = "run-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.pending: list[_Pending] = []
        self.assets: dict[str, object] = {}
        self.series_seen: set[SeriesKey] = set()
        self.new_assets: set[int] = set()
        self.part_rows = part_rows
        self.sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="send-part")
        self.inflight: tuple[Future, set] | None = None  # a part being sent, and its files

    # outcomes
    def finish(self, result: FileResult) -> None:
        self.summary.results.append(result)
        self.events.file_finished(result)

    def fail(self, f: ArchiveFile, message: str, rows: int = 0) -> None:
        self.finish(FileResult(f, "failed", rows=rows, error=message))

    def acknowledge(self) -> None:
        """Archive the pending files the writer reports acknowledged (every row of theirs is safe)."""
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

    # sending: in time order, overlapping with the staging of the next files

    def send_part(self, part: Staging, *, inline: bool) -> list[WriteError]:
        """Send a detached part in time order and wait until all of it is acknowledged; the rejected
        flushes are returned. Runs in the sender thread, or ``inline`` in the caller's (which then also
        archives files window by window)."""
        errors: list[WriteError] = []
        per_row = sum(s.nbytes for s in part.files) / max(1, part.rows)

        def window_sent(window: Window) -> None:
            self.events.rows_written(window.rows, int(window.rows * per_row))
            if inline:
                self.acknowledge()

        part.send(self.writer, window_rows=self.window_rows, source=SOURCE, on_window=window_sent,
                  on_error=errors.append)
        while True:
            try:
                self.writer.flush()
                break
            except WriteError as exc:
                errors.append(exc)
        return errors

    def settle(self, tags: set, errors: list[WriteError]) -> None:
        """After a part was sent: archive its acknowledged files; give its others a chance alone."""
        self.acknowledge()
        failed = [p for p in self.pending if p.result.file in tags]
        if failed:  # their rows were in a rejected flush (never acknowledged)
            self.pending = [p for p in self.pending if p.result.file not in tags]
            self.retry_alone(failed, errors[0] if errors else WriteError("not acknowledged"))

    def staged(self) -> None:
        """After a file was staged: once a part is big enough and the sender is free, hand it over, so
        QuestDB takes it in while the next files are read (both cores busy); the rows of each part go in
        time order. A full staging is sent at once (disk stays bounded)."""
        if self.staging.full:
            self.send_staged()
        elif self.staging.rows >= self.part_rows and (self.inflight is None or self.inflight[0].done()):
            self.join()
            part = self.staging.detach()
            self.inflight = (self.sender.submit(self.send_part, part, inline=False), {s.tag for s in part.files})

    def join(self) -> None:
        """Wait for the part being sent in the background, then settle it."""
        if self.inflight is None:
            return
        (future, tags), self.inflight = self.inflight, None
        self.settle(tags, future.result())

    def send_staged(self) -> None:
        """Send everything staged, now, and return once it is acknowledged and its files are archived."""
        self.join()
        part = self.staging.detach()
        if part.files:
            self.settle({s.tag for s in part.files}, self.send_part(part, inline=True))

    def abandon(self) -> None:
        """The run stops: let a part in flight finish (its acknowledged files are archived), ignore its errors."""
        if self.inflight is not None:
            (future, _), self.inflight = self.inflight, None
            try:
                future.result()
            except Exception:  # noqa: BLE001 - the run is stopping for another reason, already reported
                pass
            self.acknowledge()
        self.sender.shutdown(wait=True)

    def server_answers(self) -> bool:
        try:
            client.ping(self.alias)
        except client.QuestDBError:
            return False
        return True

    def retry_alone(self, batch: list[_Pending], exc: WriteError) -> None:
        """Which file did the server refuse? Send each one alone, chunk by chunk, each chunk acknowledged."""
        if not self.server_answers():
            for p in batch:
                self.fail(p.result.file, f"not acknowledged: {exc}", rows=self.rows_in_store(p))
            raise RunStopped(f"writing to QuestDB: {exc}")
        for p in batch:
            f = p.result.file
            try:
                # Read again, validated whole again: a file changed meanwhile cannot slip through.
                archive.check_file(f.path, f.interval_minutes, chunk_bytes=self.chunk_bytes, keep_bytes=0)
                for df, _ in self.checked_chunks(f):
                    self.writer.add(df, p.key)
                    self.writer.flush()
            except (WriteError, MalformedFile, OSError) as again:
                self.writer.discard()
                stored = self.rows_in_store(p)
                note = f" ({stored:,} of its rows are stored)" if stored else ""
                message = str(again) if isinstance(again, MalformedFile) else f"{f.path}: {again}"
                self.fail(f, f"not acknowledged: {message}{note}", rows=stored)
                if isinstance(again, WriteError) and not self.server_answers():
                    raise RunStopped(f"writing to QuestDB: {again}") from None
                continue
            self.archive([p])

    def rows_in_store(self, p: _Pending) -> int:
        """Rows of a failed file that QuestDB holds now, with the file's values: what the run can honestly
        say was stored of it (time-ordered windows store some of a file's rows before a later one fails)."""
        f = p.result.file
        try:
            self.writer.wait_visible()
            total = 0
            for df, _ in self.checked_chunks(f):
                stored = stored_candles(p.key, df.item(0, "time"), df.item(df.height - 1, "time"), alias=self.alias)
                total += same_candles(stored, df)
            return total
        except (client.QuestDBError, psycopg.Error, MalformedFile, OSError):
            return 0

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
            stored = stored_candles(key, df.item(0, "time"), df.item(df.height - 1, "time"), alias=self.alias)
        except (client.QuestDBError, psycopg.Error) as exc:
            raise RunStopped(f"reading stored candles of {key} to compare: {exc}") from None
        return changed_candles(stored, df)

    def checked_chunks(self, f: ArchiveFile) -> Iterator[tuple[pl.DataFrame, int]]:
        """The file's non-empty chunks (with their bytes), each validated as it is read, times increasing
        across chunks. A bad line raises only when reached: callers drop what they got (staging does) or
        validated the whole file first."""
        now, previous = time.time(), None
        for first_line, df, nbytes in archive.iter_chunks(f.path, self.chunk_bytes):
            archive.check_chunk(f.path, first_line, df, f.interval_minutes, now=now, previous=previous)
            if df.height:
                previous = df.item(df.height - 1, "time")
                yield df, nbytes

    def known_asset(self, f: ArchiveFile) -> int | None:
        """The file's asset id if the catalog has it (nothing is created before the file proved valid)."""
        if f.base in self.assets:
            return self.assets[f.base].pk
        try:
            return Asset.objects.filter(ticker=f.base).values_list("pk", flat=True).first()
        except DatabaseError as exc:
            raise RunStopped(f"reading asset {f.base} from the catalog: {exc}") from None

    def ingest(self, f: ArchiveFile) -> bool:
        """Validate and stage one file in a single read (sent with the others of its round, archived once
        acknowledged); False if it failed.

        The file is validated chunk by chunk as it is staged; a fault anywhere (even in its last line)
        removes everything staged of it, so a malformed file is never sent, and its asset is created only
        once the whole file passed.
        """
        self.events.file_started(f)
        try:
            if not archive.has_data(f.path):
                f.path.unlink()
                self.finish(FileResult(f, "empty"))
                return True
        except FileNotFoundError:
            self.vanished(f)
            return True
        except OSError as exc:
            self.fail(f, f"{f.path}: cannot read: {_describe_os_error(exc)}")
            return False
        known = self.known_asset(f)
        known_key = SeriesKey(known, f.interval_minutes, f.quote, SOURCE) if known is not None else None
        result = FileResult(f, "ingested")

        def validated():
            for df, nbytes in self.checked_chunks(f):
                if known_key is not None:
                    result.changed += self.count_changed(known_key, df)
                result.rows += df.height
                self.events.rows_sent(f, df.height, nbytes)
                yield df
            if result.rows == 0:
                raise MalformedFile(f.path, None, "no candles")

        provisional = SeriesKey(known or 0, f.interval_minutes, f.quote, SOURCE)
        try:
            staged = self.staging.stage(f, provisional, validated(), nbytes=f.size)
        except FileNotFoundError as exc:
            if result.rows == 0 and exc.filename is not None and Path(exc.filename) == f.path:
                self.vanished(f)
                return True
            self.fail(f, f"{f.path}: {_describe_os_error(exc)} ({exc.filename})")
            return False
        except (MalformedFile, OSError) as exc:
            if isinstance(exc, MalformedFile):
                message = str(exc)
            elif exc.filename is not None and Path(exc.filename) == f.path:
                message = f"{f.path}: cannot read: {_describe_os_error(exc)}"
            else:
                message = f"{f.path}: cannot stage it in {self.staging.dir}: {_describe_os_error(exc)}"
            self.fail(f, message)  # nothing of it was staged, nothing written
            return False
        key = staged.key = SeriesKey(self.asset(f).pk, f.interval_minutes, f.quote, SOURCE)
        self.series_seen.add(key)
        # Staging.send marks it done after its last window; writer.acknowledged() reports it once all its
        # rows are acknowledged.
        self.pending.append(_Pending(result, key))
        self.staged()
        return True

    def vanished(self, f: ArchiveFile) -> None:
        self.finish(FileResult(f, "vanished", error="disappeared before it was read (moved or deleted by "
                                                    "someone else); nothing written from it"))

    def wait_visible(self) -> None:
        try:
            self.writer.wait_visible()
        except client.QuestDBError as exc:
            raise RunStopped(f"waiting for QuestDB to apply the written rows: {exc}") from None


def default_staging_dir(data_dir: Path) -> Path:
    """Scratch space beside the data directory (same disk, covered by its lock): ``.<name>.staging``."""
    data_dir = data_dir.resolve()
    return data_dir.parent / f".{data_dir.name}.staging"


def _data_dir_of(f: ArchiveFile) -> Path:
    return Path(str(f.path)[: -len(str(f.relative))] or ".")


def ingest_files(
    files: list[ArchiveFile],
    *,
    alias: str = DEFAULT_ALIAS,
    ingested_dir: Path,
    staging_dir: Path | None = None,
    staging_max_bytes: int = DEFAULT_MAX_BYTES,
    part_rows: int = DEFAULT_PART_ROWS,
    stop_on_error: bool = False,
    events: Events | None = None,
    flush_rows: int = DEFAULT_FLUSH_ROWS,
    chunk_bytes: int = archive.CHUNK_BYTES,
    fsync: bool | None = None,
    now: Callable[[], float] = time.monotonic,
    writer_class: type[PriceWriter] = PriceWriter,
) -> RunSummary:
    """Validate, stage, write in time order and archive ``files``, round by round (``rounds(plan())``);
    never raises for a file or QuestDB problem: the summary tells (``summary.error`` when the run had to
    stop). ``staging_dir`` (default ``default_staging_dir``) holds the scratch copy; the caller holds the
    data directory's lock, so no other run uses it. Once ``staging_max_bytes`` are staged, what is staged
    is sent before staging goes on (disk stays bounded; order holds within each part)."""
    events = events or Events()
    summary = RunSummary()
    started = now()
    ordered = plan(files)
    summary.planned = len(ordered)
    fsync = fsync_default() if fsync is None else fsync
    if staging_dir is None:
        staging_dir = default_staging_dir(_data_dir_of(ordered[0])) if ordered else Path(".")
    try:
        with (writer_class(alias, flush_rows=flush_rows) as writer,
              Staging(staging_dir, max_bytes=staging_max_bytes) as staging):
            run = _Run(writer, staging, alias=alias, ingested_dir=ingested_dir, events=events,
                       window_rows=min(DEFAULT_WINDOW_ROWS, flush_rows), part_rows=part_rows,
                       chunk_bytes=chunk_bytes, fsync=fsync, summary=summary)
            try:
                for i, group in enumerate(rounds(ordered)):
                    if i:
                        run.wait_visible()  # the next round compares with (and overrides) what this one stored
                    for f in group:
                        if not run.ingest(f) and stop_on_error:
                            summary.stopped_early = True
                            break
                    run.send_staged()
                    if summary.stopped_early:
                        break
                if summary.rows:
                    run.wait_visible()
            except RunStopped as exc:
                summary.error = str(exc)
                run.abandon()
                writer.discard()
                for p in run.pending:
                    run.fail(p.result.file, f"not acknowledged: the run stopped ({exc})")
                run.pending.clear()
            finally:
                run.abandon()  # nothing may still be sending when the writer and the staging close
    except WriteError as exc:
        summary.error = str(exc)
    except client.QuestDBError as exc:
        summary.error = f"QuestDB: {exc}"
    except OSError as exc:
        summary.error = f"staging in {staging_dir}: {_describe_os_error(exc)}"
    summary.elapsed = now() - started
    return summary
