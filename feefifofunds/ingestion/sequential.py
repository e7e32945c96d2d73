"""The main job: a Kraken OHLCVT archive into QuestDB, file after file, fast and loss-free.

Each file is parsed in columnar chunks and validated *before* any of its rows is sent, so a malformed
file is never half-written. Rows of several files share acknowledged ILP/HTTP flushes; a file moves to
the ingested folder only once the flush holding its last row has been acknowledged. Killing the process
at any point and running again therefore ends with exactly the source data: unmoved files are sent again
and QuestDB's DEDUP absorbs the repeats.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from feefifofunds.catalog import ensure_kraken_assets
from feefifofunds.sources import kraken_archive as archive
from feefifofunds.sources.kraken_archive import ArchiveFile, MalformedFile, SkippedFile

from .timeorder import Staging
from .writer import DEFAULT_FLUSH_ROWS, PriceWriter, SeriesKey, WriteError

SOURCE = "kraken"


@dataclass
class FileResult:
    file: ArchiveFile
    status: str  # "ingested", "empty", "failed"
    rows: int = 0
    error: str = ""


@dataclass
class RunSummary:
    results: list[FileResult] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    elapsed: float = 0.0
    stopped_early: bool = False
    assets_created: int = 0

    def by_status(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.results if r.status == "ingested")

    @property
    def failed(self) -> list[FileResult]:
        return self.by_status("failed")


class Events:
    """Progress hooks; the command renders them, tests may ignore them."""

    def file_started(self, f: ArchiveFile) -> None: ...
    def rows_sent(self, f: ArchiveFile, rows: int, nbytes: int) -> None: ...
    def file_finished(self, result: FileResult) -> None: ...


def default_ingested_dir(data_dir: Path) -> Path:
    return data_dir.resolve().parent / "ingested" / "ohlcv"


def estimate_rows(files: list[ArchiveFile], sample_bytes: int = 65536) -> int:
    """Rows expected, from each file's size and the line length of its first bytes."""
    total = 0
    for f in files:
        with open(f.path, "rb") as fh:
            head = fh.read(sample_bytes)
        lines = head.count(b"\n")
        total += f.size // max(1, len(head) // lines) if lines else (1 if head.strip() else 0)
    return total


def _move(f: ArchiveFile, ingested_dir: Path) -> None:
    dest = ingested_dir / f.relative
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(f.path, dest)
    except OSError:  # another filesystem
        shutil.move(str(f.path), dest)


def ingest_files(
    files: list[ArchiveFile],
    *,
    alias: str = "questdb",
    ingested_dir: Path,
    stop_on_error: bool = False,
    events: Events | None = None,
    flush_rows: int = DEFAULT_FLUSH_ROWS,
    chunk_bytes: int = archive.CHUNK_BYTES,
    now: Callable[[], float] = time.monotonic,
    staging_dir: Path | None = None,
) -> RunSummary:
    events = events or Events()
    summary = RunSummary()
    started = now()
    # One catalog round trip for every asset of the run (files without data create no asset).
    assets, created = ensure_kraken_assets({f.base for f in files if archive.has_data(f.path)})
    summary.assets_created = len(created)
    pending: dict[ArchiveFile, FileResult] = {}  # fully buffered, waiting for QuestDB's acknowledgement

    def acknowledge(writer: PriceWriter) -> None:
        for f in writer.acknowledged():
            result = pending.pop(f, None)
            if result is None:  # failed meanwhile
                continue
            _move(result.file, ingested_dir)
            summary.results.append(result)
            events.file_finished(result)

    def fail(f: ArchiveFile, message: str) -> None:
        pending.pop(f, None)
        result = FileResult(f, "failed", error=message)
        summary.results.append(result)
        events.file_finished(result)

    def rejected(exc: WriteError, current: ArchiveFile | None) -> None:
        """Only the files with rows in the rejected flush fail (and the one being added, now incomplete)."""
        for f in exc.tags:
            if f in pending or f == current:
                fail(f, f"not acknowledged: {exc}" if f != current else str(exc))
        if current is not None and current not in exc.tags:
            fail(current, f"not sent completely: {exc}")

    # Rows go out in time order across files (ingestion.timeorder): QuestDB then appends instead of
    # rewriting partitions. Each file is validated while it is staged, so a bad file stages nothing.
    with PriceWriter(alias, flush_rows=flush_rows) as writer, Staging(staging_dir or ingested_dir.parent / ".staging") \
            as staging:

        def send_staged() -> None:
            staging.send(writer, source=SOURCE, on_window=lambda _w: acknowledge(writer),
                         on_error=lambda exc: rejected(exc, None))

        for f in files:
            events.file_started(f)
            if not archive.has_data(f.path):
                f.path.unlink()
                result = FileResult(f, "empty")
                summary.results.append(result)
                events.file_finished(result)
                continue
            key = SeriesKey(assets[f.base].pk, f.interval_minutes, f.quote, SOURCE)

            def checked(f=f):
                for first_line, df, nbytes in archive.iter_chunks(f.path, chunk_bytes):
                    archive.check_chunk(f.path, first_line, df, f.interval_minutes)
                    events.rows_sent(f, df.height, nbytes)
                    yield df

            try:
                staged = staging.stage(f, key, checked())
                pending[f] = FileResult(f, "ingested", rows=staged.rows)
            except MalformedFile as exc:
                fail(f, str(exc))
                if stop_on_error:
                    summary.stopped_early = True
                    break
            if staging.full:
                send_staged()
        send_staged()
        while True:
            try:
                writer.flush()
                acknowledge(writer)
                break
            except WriteError as exc:
                rejected(exc, None)
        for f in list(pending):  # cannot happen after a clean flush; never move a file unacknowledged
            fail(f, "not acknowledged")
    if summary.rows:
        writer.wait_visible()
    summary.elapsed = now() - started
    return summary
