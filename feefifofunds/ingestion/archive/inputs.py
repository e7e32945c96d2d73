"""Where the archive job's files come from, behind one small interface.

An ``ArchiveInput`` is one origin of files: it says how a file's bytes are read and what becomes of a file
once every row of it is committed (or once it proved empty). ``LooseFiles`` is a data directory of CSV
files, moved to the ingested folder when done; ``zips.ZipArchive`` the members of one ZIP file.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from feefifofunds.sources import kraken_archive as archive
from feefifofunds.sources.kraken_archive import ArchiveFile

from .archiving import archive_many, archive_original
from .outcomes import describe_os_error

Chunk = tuple[int, pl.DataFrame, int]  # (first line number, candles, bytes)


class FinishError(Exception):
    """A file's rows are stored but it cannot be recorded as done; the message says why and where."""


Finished = Path | None | Exception  # what ``finish`` returned for a file, or what it raised


class ArchiveInput(ABC):
    """One origin of archive files (see the module docstring)."""

    files: list[ArchiveFile]
    root: Path  # the folder it lives in: the run's staging copy goes beside it
    # Its files prove themselves whole when they end (a zip member's CRC-32), so a last line may lack its
    # newline; a loose file's may not (it may be cut short).
    proven_whole: bool = False
    # ``finish`` writes to the catalog, inside the caller's transaction: a file is done (``confirm``) once
    # that transaction has committed.
    records_in_catalog = False

    @abstractmethod
    def has_data(self, f: ArchiveFile) -> bool:
        """False for a file without data rows; raises FileNotFoundError if it is gone."""

    @abstractmethod
    def first_time(self, f: ArchiveFile) -> int | None:
        """The time on the file's first line (orders the files of one series); None if unreadable."""

    @abstractmethod
    def chunks(self, f: ArchiveFile, chunk_bytes: int) -> Iterator[Chunk]:
        """The file parsed in chunks of whole lines (not yet validated)."""

    def confirm(self, f: ArchiveFile) -> None:  # noqa: B027 - a hook: loose files record nothing in the catalog
        """The catalog transaction holding ``f``'s record (``finish``) committed: ``f`` is done."""

    @abstractmethod
    def finish_empty(self, f: ArchiveFile) -> None:
        """A file without data is done."""

    @abstractmethod
    def finish(self, f: ArchiveFile) -> Path | None:
        """Every row of ``f`` is committed: record it as done; where it went (None: nowhere new). Raises
        FileNotFoundError if it is gone, FinishError if it cannot be recorded, DiskFull if where it is
        recorded or moved to has no space left (the run stops)."""

    def finish_many(self, files: list[ArchiveFile]) -> dict[ArchiveFile, Finished]:
        """``finish`` for many files at once where that is cheaper, each file's outcome (what ``finish``
        would return or raise); a file left out is finished alone."""
        return {}

    @abstractmethod
    def read_whole(self, f: ArchiveFile) -> bytes:
        """Every byte of a (small) file, not yet parsed; raises as ``chunks`` would."""

    def estimate_rows(self, sample_bytes: int = 65536) -> int:
        """Rows expected, from each file's size and the line length of its first bytes (unreadable: 0)."""
        total = 0
        for f in self.files:
            try:
                head = self.head(f, sample_bytes)
            except (OSError, archive.MalformedFile):
                continue
            lines = head.count(b"\n")
            total += f.size // max(1, len(head) // lines) if lines else (1 if head.strip() else 0)
        return total

    @abstractmethod
    def head(self, f: ArchiveFile, nbytes: int) -> bytes:
        """The first ``nbytes`` of the file."""

    def diagnose(self, f: ArchiveFile, exc: archive.MalformedFile) -> archive.MalformedFile:
        """Why the file is malformed: a bad line may be damage in transit, which an input that can tell (a
        zip: the member's CRC-32) says instead."""
        return exc


def checked_chunks(source: ArchiveInput, f: ArchiveFile, chunk_bytes: int) -> Iterator[tuple[pl.DataFrame, int]]:
    """The file's non-empty chunks (with their bytes), each validated as it is read, times increasing across
    chunks. A bad line raises only when reached: callers drop what they got (staging does) or validated the
    whole file first."""
    now, previous = time.time(), None
    try:
        for first_line, df, nbytes in source.chunks(f, chunk_bytes):
            archive.check_chunk(f.label, first_line, df, f.interval_minutes, now=now, previous=previous)
            if df.height:
                previous = df.item(df.height - 1, "time")
                yield df, nbytes
    except archive.MalformedFile as exc:
        raise source.diagnose(f, exc) from None


class LooseFiles(ArchiveInput):
    """CSV files in a data directory; a done file moves to ``ingested_dir`` (never over an archived one)."""

    def __init__(self, files: list[ArchiveFile], data_dir: Path, ingested_dir: Path, *, fsync: bool = False):
        self.files, self.root, self.ingested_dir, self.fsync = files, data_dir, ingested_dir, fsync
        self.run_folder = "run-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    def has_data(self, f: ArchiveFile) -> bool:
        return archive.has_data(f.path)

    def first_time(self, f: ArchiveFile) -> int | None:
        return archive.first_time(f.path)

    def chunks(self, f: ArchiveFile, chunk_bytes: int) -> Iterator[Chunk]:
        return archive.iter_chunks(f.path, chunk_bytes)

    def head(self, f: ArchiveFile, nbytes: int) -> bytes:
        with open(f.path, "rb") as fh:
            return fh.read(nbytes)

    def finish_empty(self, f: ArchiveFile) -> None:
        f.path.unlink()

    def read_whole(self, f: ArchiveFile) -> bytes:
        return f.path.read_bytes()

    def finish(self, f: ArchiveFile) -> Path | None:
        try:
            return archive_original(f.path, f.relative, self.ingested_dir, self.run_folder, fsync=self.fsync)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._not_moved(f, exc) from None

    def finish_many(self, files: list[ArchiveFile]) -> dict[ArchiveFile, Finished]:
        outcomes = archive_many([(f.path, f.relative) for f in files], self.ingested_dir, self.run_folder,
                                fsync=self.fsync)
        # After a full ingested folder (its DiskFull the last outcome) the files are not tried: they are left
        # out, like the files after it the run no longer reaches.
        return {f: self._not_moved(f, o) if isinstance(o, OSError) and not isinstance(o, FileNotFoundError) else o
                for f, o in zip(files, outcomes, strict=False)}

    def _not_moved(self, f: ArchiveFile, exc: OSError) -> FinishError:
        return FinishError(f"{f.path}: rows stored, but the file cannot be moved to {self.ingested_dir}: "
                           f"{describe_os_error(exc)}")


def default_staging_dir(data_dir: Path) -> Path:
    """Scratch space beside the data directory (same disk, covered by its lock): ``.<name>.staging``."""
    data_dir = data_dir.resolve()
    return data_dir.parent / f".{data_dir.name}.staging"
