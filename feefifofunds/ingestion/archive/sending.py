"""How staged rows reach QuestDB: parts of a round sent in time order, in the background while the next
files are staged, and what follows each answer.

A file is safe once the writer reports it acknowledged (every window holding its rows committed); the
job is then told (``Outcomes.committed``). A refused flush fails no file by itself: the files with rows
in it are sent again, each alone, chunk by chunk, so one file's fault never marks another; a file that
still fails is reported with how many of its rows the store holds. A flush that failed for want of disk space
(``WriteError.disk_full``) is no fault of its files: sending stops there and the ``DiskFull`` ends the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import polars as pl
import psycopg

from feefifofunds.diskfull import DiskFull
from feefifofunds.sources.kraken_archive import ArchiveFile, MalformedFile
from feefifofunds.store import client
from feefifofunds.store.series import SeriesKey, stored_candles

from ..writer import PriceWriter, WriteError
from .compare import same_candles
from .outcomes import FileResult, RunStopped
from .staging import Staging, Window

SOURCE = "kraken"


@dataclass
class Pending:
    """A staged file waiting for the acknowledgement of all its rows."""

    result: FileResult
    key: SeriesKey


class Outcomes(Protocol):
    """What the sender needs from the job: the end of a file either way, and its rows read again."""

    def committed(self, pending: Pending) -> None: ...
    def committed_many(self, pending: list[Pending]) -> None: ...  # several at once (one catalog commit)
    def note_spans(self) -> None: ...  # what is staged is about to be sent
    def fail(self, f: ArchiveFile, message: str, rows: int = 0) -> None: ...
    def reread(self, f: ArchiveFile, *, whole: bool) -> Iterator[pl.DataFrame]: ...  # whole: validated first


class PartSender:
    """Sends what is staged: a part in the background when the sender is free (QuestDB takes it in while
    the next files are read: both cores busy), everything at the end of a round or when the staging is full
    (disk stays bounded).

    A part is at least ``part_rows`` and at least as large as everything sent before it in the round. Every
    part spans the round's whole time range (each file spans its own years), so its rows merge into the
    partitions the parts before it wrote; with each part as large as all before it, what QuestDB rewrites
    stays within about the round's size instead of growing with the number of parts."""

    def __init__(self, writer: PriceWriter, staging: Staging, outcomes: Outcomes, *, alias: str, window_rows: int,
                 part_rows: int, on_written=None, retry_writer: PriceWriter | None = None):
        self.writer, self.staging, self.outcomes, self.alias = writer, staging, outcomes, alias
        # Files of a refused bulk write are sent again over ILP: a fault of the Parquet reader is then told
        # apart from a fault in the data (the ILP path retries with its own writer).
        self.retry_writer = retry_writer or writer
        self.window_rows, self.part_rows = window_rows, part_rows
        self.on_written = on_written or (lambda rows, nbytes: None)
        self.pending: list[Pending] = []
        self.round_rows = 0  # rows handed to the sender in this round
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="send-part")
        self.inflight: tuple[Future, set] | None = None  # a part being sent, and its files

    def add(self, *pending: Pending) -> None:
        """Files were staged (all of a group at once: a part takes the group whole): once enough is staged
        and the sender is free, hand a part over."""
        self.pending += pending
        if self.staging.full:
            self.send_staged(round_end=False)
        elif (self.staging.rows >= max(self.part_rows, self.round_rows)
              and (self.inflight is None or self.inflight[0].done())):
            self.join()
            self.round_rows += self.staging.rows
            self.outcomes.note_spans()
            part = self.staging.detach()
            self.inflight = (self.pool.submit(self._send, part, inline=False), _tags(part))

    def send_staged(self, *, round_end: bool = True) -> None:
        """Send everything staged, now, and return once it is acknowledged and its files are done (at the
        end of a round, the next one starts with small parts again)."""
        self.join()
        self.round_rows = 0 if round_end else self.round_rows + self.staging.rows
        self.outcomes.note_spans()
        part = self.staging.detach()
        if part.files:
            self._settle(_tags(part), self._send(part, inline=True))

    def join(self) -> None:
        """Wait for the part being sent in the background, then settle it."""
        if self.inflight is None:
            return
        (future, tags), self.inflight = self.inflight, None
        self._settle(tags, future.result())

    def stop(self, reason: str | None = None, *, fail_pending: bool = True) -> None:
        """No more sending: a part in flight finishes (its acknowledged files are done; its errors are
        ignored, the run stops for another reason). With ``reason``, the files still waiting fail, or with
        ``fail_pending=False`` are left unfinished (a full disk: they are not at fault, one message says it)."""
        if self.inflight is not None:
            (future, _), self.inflight = self.inflight, None
            try:
                future.result()
            except Exception:  # noqa: BLE001 - the run is stopping for another reason, already reported
                pass
            try:
                self._acknowledge()
            except (DiskFull, RunStopped):  # finishing them failed too: they stay for the next run
                pass
        self.pool.shutdown(wait=True)
        if reason is not None:
            self.writer.discard()
            if fail_pending:
                for p in self.pending:
                    self.outcomes.fail(p.result.file, f"not acknowledged: the run stopped ({reason})")
            self.pending.clear()

    def _send(self, part: Staging, *, inline: bool) -> list[WriteError]:
        """Send a detached part in time order and wait until all of it is acknowledged; the rejected
        flushes are returned. Runs in the background thread, or with ``inline`` in the caller's (which
        then also settles files window by window)."""
        errors: list[WriteError] = []
        per_row = sum(s.nbytes for s in part.files) / max(1, part.rows)

        def window_sent(window: Window) -> None:
            self.on_written(window.rows, int(window.rows * per_row))
            if inline:
                self._acknowledge()

        def refused(exc: WriteError) -> None:  # a full disk stops the sending; any other refusal is kept
            if exc.disk_full is not None:
                raise exc.disk_full
            errors.append(exc)

        part.send(self.writer, window_rows=self.window_rows, source=SOURCE, on_window=window_sent,
                  on_error=refused)
        while True:
            try:
                self.writer.flush()
                break
            except WriteError as exc:
                refused(exc)
        return errors

    def _acknowledge(self) -> None:
        done = set(self.writer.acknowledged())
        if done:
            self.outcomes.committed_many([p for p in self.pending if p.result.file in done])
            self.pending = [p for p in self.pending if p.result.file not in done]

    def _settle(self, tags: set, errors: list[WriteError]) -> None:
        """After a part was sent: its acknowledged files are done; its others get a chance alone."""
        self._acknowledge()
        failed = [p for p in self.pending if p.result.file in tags]
        if failed:  # their rows were in a rejected flush (never acknowledged)
            self.pending = [p for p in self.pending if p.result.file not in tags]
            self._retry_alone(failed, errors[0] if errors else WriteError("not acknowledged"))

    def _server_answers(self) -> bool:
        try:
            client.ping(self.alias)
        except client.QuestDBError:
            return False
        return True

    def _retry_alone(self, batch: list[Pending], exc: WriteError) -> None:
        """Which file did the server refuse? Send each one alone, chunk by chunk, each chunk acknowledged."""
        if not self._server_answers():
            for p in batch:
                self.outcomes.fail(p.result.file, f"not acknowledged: {exc}", rows=self.rows_in_store(p))
            raise RunStopped(f"writing to QuestDB: {exc}")
        for p in batch:
            f = p.result.file
            try:
                for df in self.outcomes.reread(f, whole=True):  # a file changed meanwhile cannot slip through
                    self.retry_writer.add(df, p.key)
                    self.retry_writer.flush()
            except (WriteError, MalformedFile, OSError) as again:
                self.retry_writer.discard()
                if isinstance(again, WriteError) and again.disk_full is not None:
                    raise again.disk_full from None  # not this file's fault: the run stops, the file stays
                stored = self.rows_in_store(p)
                note = f" ({stored:,} of its rows are stored)" if stored else ""
                message = str(again) if isinstance(again, MalformedFile) else f"{f.label}: {again}"
                self.outcomes.fail(f, f"not acknowledged: {message}{note}", rows=stored)
                if isinstance(again, WriteError) and not self._server_answers():
                    raise RunStopped(f"writing to QuestDB: {again}") from None
                continue
            self.outcomes.committed(p)

    def rows_in_store(self, p: Pending) -> int:
        """Rows of a failed file that QuestDB holds now, with the file's values: what the run can honestly
        say was stored of it (time-ordered windows store some of a file's rows before a later one fails)."""
        try:
            self.writer.wait_visible()
            total = 0
            for df in self.outcomes.reread(p.result.file, whole=False):
                stored = stored_candles(p.key, df.item(0, "time"), df.item(df.height - 1, "time"), alias=self.alias)
                total += same_candles(stored, df)
            return total
        except (client.QuestDBError, psycopg.Error, MalformedFile, OSError):
            return 0


def _tags(part: Staging) -> set:
    """The files whose rows a part holds."""
    return {t for staged in part.files for t in staged.tags}
