"""The archive job's round loop: plan the files, then per round validate and stage each file, send the
round in time order, and mark each file done once all its rows are committed.

``ingest`` is the job in one screen; the rooms around it:

* ``inputs``: where files come from (``ArchiveInput``: loose CSV files) and what becomes of a done one;
* ``zips``: the members of Kraken's ZIP files as inputs, recorded per store as they are done (resumable);
* ``staging``: the columnar scratch copy the round is staged in and read back from in time order;
* ``sending``: how staged rows reach QuestDB (parts in the background, a refused flush retried file by file);
* ``archiving``: moving done originals to the ingested folder without overwriting anything;
* ``compare``: how many stored candles a file changed; ``outcomes``: results, summary and progress events;
* ``together``: small files read, checked, compared and staged in batches (their fixed costs paid once).

Order and overlaps: the files of one series (pair, interval) are applied by their first timestamp (the
complete archive before the quarterly updates, oldest update first), one per round, each round committed and
visible before the next, so where two files disagree on a candle the newest file's value stays (DEDUP UPSERT
keys: time, asset, interval, quote, source). A malformed file is never half-written and creates no asset:
each file is validated chunk by chunk as it is staged, and a fault anywhere removes what was staged of it.
Killing the process at any point and running again ends with exactly the source data: files not yet done
are sent again and DEDUP absorbs the repeats; the next run removes the killed run's scratch copy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
from django.db import DatabaseError, transaction

from feefifofunds.catalog import ensure_kraken_assets
from feefifofunds.diskfull import DiskFull, catalog_full
from feefifofunds.models import Asset
from feefifofunds.sources.kraken_archive import CHUNK_BYTES, ArchiveFile, MalformedFile
from feefifofunds.store import client, parquet_import, written
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.series import SeriesKey, stored_candles

from ..writer import DEFAULT_FLUSH_ROWS, PriceWriter, WriteError
from . import together
from .archiving import fsync_default
from .compare import changed_candles
from .inputs import ArchiveInput, Finished, FinishError, LooseFiles, checked_chunks, default_staging_dir
from .outcomes import Events, FileResult, RunStopped, RunSummary, describe_os_error
from .sending import SOURCE, PartSender, Pending
from .staging import DEFAULT_MAX_BYTES, DEFAULT_WINDOW_ROWS, Staging
from .together import BATCH_BYTES, BATCH_FILES, SMALL_FILE_BYTES

# Rows per Parquet file on the bulk path (QuestDB's work per row falls with the commit's size).
PARQUET_FLUSH_ROWS = int(os.environ.get("FEEFIFOFUNDS_PARQUET_ROWS", 1_000_000))
# Staged rows handed to the background sender at once (when it is free): large enough that most rows of
# a run go out in time order, small enough that QuestDB starts working while the rest is read.
DEFAULT_PART_ROWS = int(os.environ.get("FEEFIFOFUNDS_PART_ROWS", 1_000_000))


def plan(files: list[ArchiveFile], first_time: Callable[[ArchiveFile], int | None]) -> list[ArchiveFile]:
    """The order files are read in (documented in the README, relied on for "newest wins").

    The files of one series by their first timestamp, then path: the complete archive, which starts when
    the pair was listed, before the quarterly updates, and older updates before newer ones (``rounds``
    then sends them in that order). Across series the order only decides what is read first (coarse
    intervals, then pair by pair): the rows go to QuestDB in time order whatever it is.
    """
    per_series: dict[tuple[str, str, int], int] = {}
    for f in files:
        series = (f.base, f.quote, f.interval_minutes)
        per_series[series] = per_series.get(series, 0) + 1
    # Only files that share their series need their first time (a one-day update: none, no file opened).
    firsts = {f: first_time(f) for f in files if per_series[(f.base, f.quote, f.interval_minutes)] > 1}
    return sorted(files, key=lambda f: (-f.interval_minutes, f.pair, firsts.get(f) or 0, str(f.relative)))


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


def ingest(inputs: list[ArchiveInput], *, alias: str = DEFAULT_ALIAS, staging_dir: Path | None = None,
           staging_max_bytes: int = DEFAULT_MAX_BYTES, part_rows: int = DEFAULT_PART_ROWS,
           stop_on_error: bool = False, events: Events | None = None, flush_rows: int | None = None,
           chunk_bytes: int = CHUNK_BYTES, now: Callable[[], float] = time.monotonic,
           writer_class: type[PriceWriter] = PriceWriter, write_path: str | None = None) -> RunSummary:
    """Validate, stage, write in time order and finish every file of ``inputs``, round by round; never
    raises for a file or QuestDB problem: the summary tells (``summary.error`` when the run had to stop).
    ``staging_dir`` (default: beside the first input) holds the scratch copy; the caller holds the lock of
    the inputs' folder, so no other run uses it. Once ``staging_max_bytes`` are staged, what is staged is
    sent before staging goes on (disk stays bounded; order holds within each part). ``write_path``: "parquet"
    (bulk writes through QuestDB's Parquet reader), "ilp", or None: Parquet when the store can read its
    import folder (``choose_write_path``). ``flush_rows``: rows per commit (default: the path's own)."""
    events = events or Events()
    summary = RunSummary()
    started = now()
    origin = {f: source for source in inputs for f in source.files}
    ordered = plan(list(origin), lambda f: origin[f].first_time(f))
    summary.planned = len(ordered)
    if staging_dir is None:
        staging_dir = default_staging_dir(inputs[0].root) if inputs else Path(".")
    try:
        summary.write_path, note = choose_write_path(alias) if write_path is None else (write_path, "as asked")
        events.write_path(summary.write_path, note)
        if flush_rows is None:
            flush_rows = PARQUET_FLUSH_ROWS if summary.write_path == "parquet" else DEFAULT_FLUSH_ROWS
        with ExitStack() as stack:
            # The job notes each part's spans itself, in this thread, before the part goes (``note_spans``).
            writer = stack.enter_context(writer_class(alias, flush_rows=flush_rows, transport=summary.write_path,
                                                      notes=False))
            retry_writer = writer if writer.transport.name == "ilp" else \
                stack.enter_context(writer_class(alias, flush_rows=flush_rows))
            staging = stack.enter_context(Staging(staging_dir, max_bytes=staging_max_bytes))
            job = _Job(origin, writer, staging, alias=alias, events=events, summary=summary,
                       chunk_bytes=chunk_bytes, window_rows=min(DEFAULT_WINDOW_ROWS, flush_rows), part_rows=part_rows,
                       retry_writer=retry_writer, together=not stop_on_error)
            stopped, disk_full = None, False
            try:
                for i, group in enumerate(rounds(ordered)):
                    if i:
                        job.wait_visible()  # the next round compares with (and overrides) what this one stored
                    for f in group:
                        if not job.stage(f) and stop_on_error:
                            summary.stopped_early = True
                            break
                    job.stage_held()
                    job.sender.send_staged()
                    if summary.stopped_early:
                        break
                if summary.rows:
                    job.wait_visible()
            except (RunStopped, DiskFull) as exc:  # a full disk: its one message, no failure per file
                summary.error = stopped = str(exc)
                disk_full = isinstance(exc, DiskFull)
            finally:  # nothing may still be sending when the writer and the staging close
                job.sender.stop(reason=stopped, fail_pending=not disk_full)
    except DiskFull as exc:
        summary.error = str(exc)
    except WriteError as exc:
        summary.error = str(exc)
    except client.QuestDBError as exc:
        summary.error = f"QuestDB: {exc}"
    except OSError as exc:
        summary.error = f"staging in {staging_dir}: {describe_os_error(exc)}"
    summary.elapsed = now() - started
    return summary


def choose_write_path(alias: str) -> tuple[str, str]:
    """Parquet when QuestDB reads the alias's import folder (a probe that inserts nothing), else ILP; with
    the reason. Import files a killed run left are removed first (the caller holds the store lock)."""
    parquet_import.remove_leftovers(alias)
    try:
        problem = parquet_import.probe(alias)
    except client.QuestDBError as exc:  # SQL unreachable: ILP may still answer; the run says what fails
        problem = f"the Parquet probe could not ask QuestDB: {exc}"
    if problem is None:
        folder = parquet_import.import_folder(alias)
        return "parquet", f"QuestDB reads Parquet files from {folder.local if folder else '?'}"
    return "ilp", problem


def ingest_files(files: list[ArchiveFile], *, ingested_dir: Path, fsync: bool | None = None,
                 **options) -> RunSummary:
    """``ingest`` for loose files of one data directory (moved to ``ingested_dir`` when done)."""
    fsync = fsync_default() if fsync is None else fsync
    data_dir = files[0].path.parents[len(files[0].relative.parts) - 1] if files else Path(".")
    return ingest([LooseFiles(files, data_dir, ingested_dir, fsync=fsync)], **options)


class _Job:
    """One run's per-file steps: validate and stage a file, create its asset once it proved valid, count
    the stored candles it changes, and its outcome once the sender has an answer for it. Small files are
    held and taken in batches (``together``) unless ``together`` is off (``--stop-on-error`` stops at the
    first file that fails, in the plan's order)."""

    def __init__(self, origin: dict[ArchiveFile, ArchiveInput], writer: PriceWriter, staging: Staging, *,
                 alias: str, events: Events, summary: RunSummary, chunk_bytes: int, window_rows: int,
                 part_rows: int, retry_writer: PriceWriter, together: bool = True):
        self.origin, self.writer, self.staging, self.alias = origin, writer, staging, alias
        self.events, self.summary, self.chunk_bytes = events, summary, chunk_bytes
        self.sender = PartSender(writer, staging, self, alias=alias, window_rows=window_rows, part_rows=part_rows,
                                 on_written=events.rows_written, retry_writer=retry_writer)
        self.assets: dict[str, Asset] = {}
        self.catalog_read = False  # every asset of the run looked up (once, at the first file)
        self.series_seen: set[SeriesKey] = set()
        self.new_assets: set[int] = set()
        self.notes = written.Notes(alias)
        self.unnoted: dict[SeriesKey, tuple[int, int]] = {}  # spans staged since the last part went
        self.spans: dict[ArchiveFile, tuple[int, int]] = {}
        self.finished: dict[ArchiveFile, Finished] = {}  # outcomes of files finished together, not yet reported
        # Small files wait here to be taken together; a file larger than a chunk is read in chunks.
        self.small_bytes = min(SMALL_FILE_BYTES, chunk_bytes) if together else -1
        self.part_rows = part_rows
        self.held: list[ArchiveFile] = []
        self.held_bytes = 0

    def stage(self, f: ArchiveFile) -> bool:
        """Validate and stage one file in a single read (sent with the others of its round, done once
        acknowledged); False if it failed. Its asset is created only once the whole file passed. A small
        file is held, to be staged with the next ones (``stage_held``), and counts as staged here."""
        self.events.file_started(f)
        if f.size > self.small_bytes:
            return self.stage_alone(f)
        self.held.append(f)
        self.held_bytes += f.size
        # A batch stays within a part (about 32 bytes a row; archive lines are longer), so reading the next
        # one overlaps sending, and within the room the staging has left.
        room = self.staging.max_bytes - self.staging.bytes
        if self.held_bytes >= min(BATCH_BYTES, self.part_rows * 32, room) or len(self.held) >= BATCH_FILES:
            self.stage_held()
        return True

    def stage_held(self) -> None:
        """Stage the held small files as one batch; those the batch cannot take are staged alone."""
        held, self.held, self.held_bytes = self.held, [], 0
        for f in held if len(held) == 1 else self.stage_together(held):
            self.stage_alone(f)

    def stage_alone(self, f: ArchiveFile) -> bool:
        source = self.origin[f]
        try:
            if not source.has_data(f):
                source.finish_empty(f)
                self.finish(FileResult(f, "empty"))
                return True
        except FileNotFoundError:
            self.vanished(f)
            return True
        except OSError as exc:
            self.fail(f, f"{f.label}: cannot read: {describe_os_error(exc)}")
            return False
        except MalformedFile as exc:  # a zip member that cannot be read (damaged, unknown compression)
            self.fail(f, str(exc))
            return False
        known = self.known_asset(f)
        result = FileResult(f, "ingested")
        provisional = SeriesKey(known or 0, f.interval_minutes, f.quote, SOURCE)
        try:
            staged = self.staging.stage(f, provisional, self.validated(f, result, provisional if known else None),
                                        nbytes=f.size)
        except (MalformedFile, OSError) as exc:
            return self.not_staged(f, exc, result)
        key = staged.key = SeriesKey(self.asset(f).pk, f.interval_minutes, f.quote, SOURCE)
        self.series_seen.add(key)
        lo, hi = self.spans.pop(f)
        written.merge(self.unnoted, {key: (lo * 1_000_000, hi * 1_000_000)})
        self.sender.add(Pending(result, key))
        return True

    def note_spans(self) -> None:
        """Note the spans of what is staged in the catalog, before it is sent (``store.written``)."""
        try:
            self.notes.cover(self.unnoted)
        except DatabaseError as exc:
            raise catalog_full(exc) or RunStopped(f"noting the spans to send in the catalog: {exc}") from None
        self.unnoted = {}

    def stage_together(self, files: list[ArchiveFile]) -> list[ArchiveFile]:
        """Read, check, compare and stage many small files at once (``together``); returns those to stage
        alone (a line the batch could not take: alone, the file's own message names it)."""
        alone: list[ArchiveFile] = []
        taken: list[tuple[ArchiveFile, bytes]] = []
        for f in files:
            source = self.origin[f]
            try:
                data = source.read_whole(f)
                if not data.strip():
                    source.finish_empty(f)
                    self.finish(FileResult(f, "empty"))
                    continue
            except FileNotFoundError:
                self.vanished(f)
                continue
            except OSError as exc:
                self.fail(f, f"{f.label}: cannot read: {describe_os_error(exc)}")
                continue
            except MalformedFile as exc:  # a zip member that cannot be read (damaged, unknown compression)
                self.fail(f, str(exc))
                continue
            if not data.endswith(b"\n"):
                if not source.proven_whole:  # possibly cut short: alone, it is refused with the reason
                    alone.append(f)
                    continue
                data += b"\n"
            taken.append((f, data))
        if not taken:
            return alone
        now = time.time()
        frame, bad = together.parse_together([data for _, data in taken])
        if frame.height:
            bad |= together.check_together(frame, [f.interval_minutes for f, _ in taken], now=now)
        alone += [taken[i][0] for i in sorted(bad)]
        good = [i for i in range(len(taken)) if i not in bad]
        if not good:
            return alone
        if bad:  # the files that passed, numbered anew
            renumber = np.full(len(taken), -1, dtype=np.int32)
            renumber[good] = np.arange(len(good), dtype=np.int32)
            frame = frame.filter(~pl.col("segment").is_in(sorted(bad)))
            frame = frame.with_columns(pl.Series("segment", renumber[frame.get_column("segment").to_numpy()]))
        files = [taken[i][0] for i in good]
        sizes = [len(taken[i][1]) for i in good]
        rows, first, last = together.extents(frame, len(files))
        known = [self.known_asset(f) for f in files]
        keys = [SeriesKey(k or 0, f.interval_minutes, f.quote, SOURCE) for f, k in zip(files, known, strict=True)]
        compared = {i: key for i, key in enumerate(keys) if known[i] is not None and not self.first_of_new(key)}
        try:
            changed = together.changed_together(frame, compared, first, last, alias=self.alias)
        except (client.QuestDBError, psycopg.Error) as exc:
            raise RunStopped(f"reading stored candles of {len(compared):,} series to compare: {exc}") from None
        try:
            group = self.staging.stage_together(files, keys, frame, last.tolist(), nbytes=sum(sizes))
        except OSError as exc:
            for f in files:
                self.fail(f, f"{f.label}: cannot stage it in {self.staging.dir}: {describe_os_error(exc)}")
            return alone
        assets = self.assets_of(files)
        group.keys = keys = [SeriesKey(assets[f.base].pk, f.interval_minutes, f.quote, SOURCE) for f in files]
        pending = []
        for i, f in enumerate(files):
            self.events.rows_sent(f, int(rows[i]), sizes[i])
            self.series_seen.add(keys[i])
            written.merge(self.unnoted, {keys[i]: (int(first[i]) * 1_000_000, int(last[i]) * 1_000_000)})
            pending.append(Pending(FileResult(f, "ingested", rows=int(rows[i]), changed=changed.get(i, 0)), keys[i]))
        self.sender.add(*pending)
        return alone

    def validated(self, f: ArchiveFile, result: FileResult, known: SeriesKey | None) -> Iterator[pl.DataFrame]:
        """The file's chunks as they pass validation, counted into ``result`` (with the stored candles each
        changes, when the series is ``known``); raises at the first bad line, or for a file of no candles."""
        for df, nbytes in checked_chunks(self.origin[f], f, self.chunk_bytes):
            if known is not None:
                result.changed += self.count_changed(known, df)
            if df.height:  # times increase within a file (validated)
                lo, hi = df.item(0, "time"), df.item(df.height - 1, "time")
                self.spans[f] = (self.spans[f][0], hi) if f in self.spans else (lo, hi)
            result.rows += df.height
            self.events.rows_sent(f, df.height, nbytes)
            yield df
        if result.rows == 0:
            raise MalformedFile(f.label, None, "no candles")

    def not_staged(self, f: ArchiveFile, exc: Exception, result: FileResult) -> bool:
        """Nothing of the file was staged, nothing written: say why (a file gone before it was read is no
        failure)."""
        ours = isinstance(exc, OSError) and exc.filename is not None and Path(exc.filename) == f.path
        if isinstance(exc, FileNotFoundError) and ours and result.rows == 0:
            self.vanished(f)
            return True
        if isinstance(exc, MalformedFile):
            self.fail(f, str(exc))
        elif isinstance(exc, FileNotFoundError):
            self.fail(f, f"{f.label}: {describe_os_error(exc)} ({exc.filename})")
        elif ours:
            self.fail(f, f"{f.label}: cannot read: {describe_os_error(exc)}")
        else:
            self.fail(f, f"{f.label}: cannot stage it in {self.staging.dir}: {describe_os_error(exc)}")
        return False

    # --- outcomes (the sender calls committed, fail and reread) ---

    def finish(self, result: FileResult) -> None:
        self.summary.results.append(result)
        self.events.file_finished(result)

    def fail(self, f: ArchiveFile, message: str, rows: int = 0) -> None:
        self.finish(FileResult(f, "failed", rows=rows, error=message))

    def vanished(self, f: ArchiveFile) -> None:
        self.finish(FileResult(f, "vanished", error="disappeared before it was read (moved or deleted by "
                                                    "someone else); nothing written from it"))

    def committed(self, pending: Pending, batch: list[FileResult] | None = None) -> None:
        """Every row of the file is acknowledged: its input records it done (loose files: moved). A record in
        the catalog written inside ``committed_many``'s transaction goes to ``batch``, reported once that
        transaction has committed."""
        result = pending.result
        source = self.origin[result.file]
        try:
            result.archived_as = self.finish_file(result.file)
            if result.archived_as is None:
                result.error = "identical to a file already in the ingested folder: kept once"
        except FileNotFoundError:
            result.error = "stored, but the file was moved away by someone else before it could be archived"
        except FinishError as exc:
            result.status = "failed"
            result.error = str(exc)
        if source.records_in_catalog and result.status != "failed":
            if batch is not None:
                batch.append(result)
                return
            source.confirm(result.file)
        self.finish(result)

    def committed_many(self, pending: list[Pending]) -> None:
        """Files acknowledged together: their records in the catalog (zip members) share one transaction, so
        a commit of many small members costs one catalog commit, not one each (a kill before it only makes
        the next run read them again). Those records count once the transaction has committed: a full disk
        rolls it back (DiskFull goes on to stop the run), an earlier error in it fails them."""
        batch: list[FileResult] = []
        with transaction.atomic():
            self.finish_ahead([p.result.file for p in pending])
            for p in pending:
                self.committed(p, batch)
            lost = transaction.get_rollback()  # a record that failed doomed the transaction: it rolls back
        for result in batch:
            if lost:
                result.status = "failed"
                result.error = (f"{result.file.label}: rows stored, but it cannot be recorded as done in the "
                                "catalog (the next run reads it again)")
            else:
                self.origin[result.file].confirm(result.file)
            self.finish(result)

    def finish_ahead(self, files: list[ArchiveFile]) -> None:
        """Record files done together, input by input (one insert of zip members, archive moves with one
        listing of the ingested folder and one fsync per folder); ``committed`` then reports each."""
        by_input: dict[int, tuple[ArchiveInput, list[ArchiveFile]]] = {}
        for f in files:
            by_input.setdefault(id(self.origin[f]), (self.origin[f], []))[1].append(f)
        for source, mine in by_input.values():
            if len(mine) > 1:
                try:
                    self.finished.update(source.finish_many(mine))
                except DiskFull as exc:  # raised at the first of them, once the files before it are reported
                    self.finished[mine[0]] = exc
                    break

    def finish_file(self, f: ArchiveFile) -> Path | None:
        """What ``finish`` returns for the file (raising what it raises), recorded ahead or now."""
        outcome = self.finished.pop(f) if f in self.finished else self.origin[f].finish(f)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def reread(self, f: ArchiveFile, *, whole: bool) -> Iterator[pl.DataFrame]:
        """The file's candles read again, validated (``whole``: every line before the first chunk)."""
        if whole:
            for _ in checked_chunks(self.origin[f], f, self.chunk_bytes):
                pass
        for df, _ in checked_chunks(self.origin[f], f, self.chunk_bytes):
            yield df

    # --- the catalog and the stored candles ---

    def known_asset(self, f: ArchiveFile) -> int | None:
        """The file's asset id if the catalog has it (nothing is created before the file proved valid).
        The catalog is read once, for every asset of the run."""
        if not self.catalog_read:
            bases = {g.base for g in self.origin}
            try:
                self.assets.update({a.ticker: a for a in Asset.objects.filter(ticker__in=bases)})
            except DatabaseError as exc:
                raise RunStopped(f"reading the run's {len(bases):,} assets from the catalog: {exc}") from None
            self.catalog_read = True
        return self.assets[f.base].pk if f.base in self.assets else None

    def asset(self, f: ArchiveFile) -> Asset:
        """The file's asset, created now (the file is valid and QuestDB answers) if it is new."""
        return self.assets_of([f])[f.base]

    def assets_of(self, files: list[ArchiveFile]) -> dict[str, Asset]:
        """The files' assets, those not in the catalog created now (in one call), once the files proved valid."""
        missing = {f.base for f in files} - set(self.assets)
        if missing:
            try:
                found, created = ensure_kraken_assets(missing)
            except DatabaseError as exc:
                raise catalog_full(exc) or RunStopped(f"creating asset {', '.join(sorted(missing))} in the catalog: "
                                                      f"{exc}") from None
            self.assets.update(found)
            self.summary.assets_created += len(created)
            self.new_assets.update(found[t].pk for t in created)
        return self.assets

    def first_of_new(self, key: SeriesKey) -> bool:
        """Nothing can be stored for this series: its asset was created by this run, the series not yet sent."""
        return key.asset_id in self.new_assets and key not in self.series_seen

    def count_changed(self, key: SeriesKey, df: pl.DataFrame) -> int:
        if self.first_of_new(key) or df.height == 0:
            return 0  # nothing can be stored for an asset created by this run
        try:
            stored = stored_candles(key, df.item(0, "time"), df.item(df.height - 1, "time"), alias=self.alias)
        except (client.QuestDBError, psycopg.Error) as exc:
            raise RunStopped(f"reading stored candles of {key} to compare: {exc}") from None
        return changed_candles(stored, df)

    def wait_visible(self) -> None:
        try:
            self.writer.wait_visible()
        except client.QuestDBError as exc:
            raise RunStopped(f"waiting for QuestDB to apply the written rows: {exc}") from None
