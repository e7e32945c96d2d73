"""What the archive job tells its caller: one result per file, the run's summary, and progress events."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from feefifofunds.sources.kraken_archive import ArchiveFile, SkippedFile


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
    unreadable: list[SkippedFile] = field(default_factory=list)  # zips that are none or cut short: nothing read
    elapsed: float = 0.0
    stopped_early: bool = False
    assets_created: int = 0
    error: str = ""  # the run stopped: QuestDB or the catalog failed (the operation is named), or a disk filled
    # up (diskfull.DiskFull: what and where; the files it left are not processed, none failed for it)
    planned: int = 0
    write_path: str = ""  # "parquet" or "ilp"

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
        return not self.failed and not self.error and not self.unreadable


class Events:
    """Progress hooks; the command renders them, tests may ignore them."""

    def write_path(self, name: str, note: str) -> None: ...  # once, at the start: "parquet" or "ilp", and why
    def file_started(self, f: ArchiveFile) -> None: ...
    def rows_sent(self, f: ArchiveFile, rows: int, nbytes: int) -> None: ...  # read and staged
    def rows_written(self, rows: int, nbytes: int) -> None: ...  # sent and acknowledged (nbytes: their share)
    def file_finished(self, result: FileResult) -> None: ...


class RunStopped(Exception):
    """QuestDB or the catalog failed in a way no later file can avoid; the message names the operation."""


def describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)
