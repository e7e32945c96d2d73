"""The members of Kraken's ZIP files as archive input, recorded per store as they are done (resumable).

A zip is listed and read by ``sources.kraken_zip`` (members as ``ArchiveFile``s named ``zip:member``,
inflated as streams, CRC-32 and size checked at the end of each). ``ZipArchive`` is the job's input for one
zip: the members a store already holds (``ZipMemberDone`` rows of that store and the zip's identity: name,
size, hash of its central directory) are left out, so a rerun reads no finished member again; of the
others, those the caller wants (tier, intervals) are the files of the run, the rest stay pending. A member
is recorded once its rows are committed (``finish``), or when it proved empty.

A damaged member fails at its end, so the job drops what it staged of it (it fails alone, nothing of it
stored); a bad line in a member whose CRC fails is reported as the damage it is (``diagnose``); a member
whose CRC checks may end without a newline. Once every member is done (or was empty, junk or skipped) the
zip moves to the ingested folder, never over a different file; a failed or pending member keeps it in
place for the next run.

A member counts as done once its record is committed: the job records the members of one commit in one
catalog transaction and ``confirm``s them once it has committed (``written``: the records written so far,
the transaction under way included). A catalog whose disk is full stops the run (``DiskFull``): that
transaction rolls back and its members are read again by the next run, as are those of a zip that could not
move into a full ingested folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from feefifofunds.diskfull import NOTHING_LOST, DiskFull, catalog_full
from feefifofunds.models import ZipMemberDone
from feefifofunds.sources import kraken_archive as archive
from feefifofunds.sources.kraken_archive import CHUNK_BYTES, ArchiveFile, MalformedFile, SkippedFile
from feefifofunds.sources.kraken_zip import UnreadableZip, ZipIdentity, ZipListing, ZipReader, list_zip
from feefifofunds.store.rows import insert_rows

from .archiving import archive_original
from .inputs import ArchiveInput, Chunk, FinishError
from .outcomes import RunSummary, describe_os_error


def list_zips(paths: list[Path], data_dir: Path) -> tuple[list[ZipListing], list[SkippedFile]]:
    """Every zip listed; those that cannot be read apart, each with its reason (a zip gone meanwhile: left out)."""
    listings, unreadable = [], []
    for path in paths:
        try:
            listings.append(list_zip(path, data_dir))
        except UnreadableZip as exc:
            unreadable.append(SkippedFile(path, exc.reason + "; nothing was read from it"))
        except FileNotFoundError:
            continue
    return listings, unreadable


def zip_inputs(listings: list[ZipListing], *, store: str, root: Path, ingested_dir: Path,
               wanted: Callable[[ArchiveFile], bool] = lambda f: True, fsync: bool = False) -> list[ZipArchive]:
    """The job's inputs for these zips and this store; a zip whose members are all done already moves now
    (a run killed after its last member); a zip without OHLCVT members is left alone. Raises DatabaseError
    if the catalog does not answer."""
    out = []
    for listing in listings:
        source = ZipArchive(listing, store=store, root=root, ingested_dir=ingested_dir, fsync=fsync,
                            done=done_members(store, listing.identity), wanted=wanted)
        if listing.members and source.complete and not source.pending:
            try:
                source.release()
            except DiskFull as exc:  # said before the run; the zip stays and a later run moves it
                source.note = f"every member is stored, but the zip cannot be moved: {exc}"
        out.append(source)
    return out


def done_members(store: str, identity: ZipIdentity) -> set[str]:
    """The members of this zip the store holds (raises DatabaseError if the catalog does not answer)."""
    return set(ZipMemberDone.objects.filter(store=store, zip_name=identity.name, zip_size=identity.size,
                                            zip_digest=identity.digest).values_list("member", flat=True))


def record_done(store: str, identity: ZipIdentity, members: list[str]) -> None:
    """``ZipMemberDone`` rows for many members in one statement (``store.rows``; a member already recorded
    is left as it is)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())  # as the ORM would store it
    insert_rows(ZipMemberDone, ["store", "zip_name", "zip_size", "zip_digest", "member", "done_at"],
                [(store, identity.name, identity.size, identity.digest, m, now) for m in members], ignore=True)


def forget_zip(store: str, name: str) -> int:
    """``--rescan``: forget which members of zips named ``name`` the store holds; how many were recorded."""
    return ZipMemberDone.objects.filter(store=store, zip_name=name).delete()[0]


class ZipArchive(ArchiveInput):
    """The members of one zip still to do for one store (see the module docstring); ``close`` it."""

    proven_whole = True
    records_in_catalog = True

    def __init__(self, listing: ZipListing, *, store: str, root: Path, ingested_dir: Path,
                 done: set[str] = frozenset(), wanted: Callable[[ArchiveFile], bool] = lambda f: True,
                 fsync: bool = False):
        self.listing, self.store, self.root, self.ingested_dir, self.fsync = listing, store, root, ingested_dir, fsync
        self.done = {m.member for m in listing.members if m.member in done}
        self.written = set(self.done)  # done, and recorded in the catalog transaction under way
        left = [m for m in listing.members if m.member not in self.done]
        self.files = [m for m in left if wanted(m)]
        self.pending = [m for m in left if not wanted(m)]  # not selected by this run's tier or intervals
        self.run_folder = "run-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.moved_to: Path | None = None
        self.note = ""  # what became of the zip when it was done (or why it could not move)
        self.reader = ZipReader(listing.path, listing.infos)

    @property
    def complete(self) -> bool:
        """Every member is recorded (or was empty); junk and skipped entries count as done."""
        return len(self.written) == len(self.listing.members)

    def has_data(self, f: ArchiveFile) -> bool:
        if f.size == 0:
            return False
        with self.reader.open(f) as stream:
            return archive.has_data(stream, block_bytes=4096)

    def first_time(self, f: ArchiveFile) -> int | None:
        try:
            with self.reader.open(f) as stream:
                return archive.first_time(stream)
        except MalformedFile:
            return None

    def chunks(self, f: ArchiveFile, chunk_bytes: int) -> Iterator[Chunk]:
        with self.reader.open(f) as stream:
            yield from archive.iter_chunks(stream, chunk_bytes, label=f.label, whole=True)

    def head(self, f: ArchiveFile, nbytes: int) -> bytes:
        with self.reader.open(f) as stream:
            return stream.read(nbytes)

    def read_whole(self, f: ArchiveFile) -> bytes:
        blocks = []
        with self.reader.open(f) as stream:
            while block := stream.read(CHUNK_BYTES):  # the read that ends it checks its CRC-32 and size
                blocks.append(block)
        return b"".join(blocks)

    def diagnose(self, f: ArchiveFile, exc: MalformedFile) -> MalformedFile:
        """A bad line in a member whose CRC-32 fails is damage, not Kraken's data: say so."""
        try:
            with self.reader.open(f) as stream:
                while stream.read(CHUNK_BYTES):
                    pass
        except MalformedFile as damaged:
            return damaged
        except OSError:
            pass
        return exc

    def estimate_rows(self, sample_bytes: int = 8192) -> int:
        return super().estimate_rows(sample_bytes)  # a short sample: every sample is inflated

    def finish_empty(self, f: ArchiveFile) -> None:
        self.finish(f)
        self.confirm(f)

    def finish(self, f: ArchiveFile) -> Path | None:
        """Record the member as held by the store; the last one moves the zip. Returns where the zip is.
        A catalog out of disk space, or an ingested folder too full for the zip: DiskFull (the run stops)."""
        try:
            with transaction.atomic():  # a savepoint inside the job's batch: a failure fails this member only
                record_done(self.store, self.listing.identity, [f.member])
        except DatabaseError as exc:
            if (full := _catalog_full(exc)) is not None:
                raise full from None
            raise FinishError(f"{f.label}: rows stored, but it cannot be recorded as done in the catalog "
                              f"(the next run reads it again): {exc}") from None
        return self._written(f)

    def finish_many(self, files: list[ArchiveFile]) -> dict[ArchiveFile, Path | None]:
        """The members recorded in one insert; if the catalog refuses it, none is, and each is then
        recorded alone (so only a member at fault fails). A catalog out of disk space: DiskFull."""
        try:
            with transaction.atomic():
                record_done(self.store, self.listing.identity, [f.member for f in files])
        except DatabaseError as exc:
            if (full := _catalog_full(exc)) is not None:
                raise full from None
            return {}
        return {f: self._written(f) for f in files}

    def _written(self, f: ArchiveFile) -> Path:
        """The member's record is written (done once its transaction commits: ``confirm``); the last one
        moves the zip."""
        self.written.add(f.member)
        if self.complete and not self.pending:
            self.release()
        return self.moved_to or self.listing.path

    def confirm(self, f: ArchiveFile) -> None:
        """The transaction holding the member's record committed: it is done."""
        self.done.add(f.member)

    def release(self) -> None:
        """Every member is done: the zip moves to the ingested folder (never over a different file). A full
        ingested folder raises DiskFull (the zip stays in place)."""
        self.close()
        try:
            self.moved_to = archive_original(self.listing.path, self.listing.relative, self.ingested_dir,
                                             self.run_folder, fsync=self.fsync)
        except OSError as exc:
            self.note = (f"every member is stored, but the zip cannot be moved to {self.ingested_dir}: "
                         f"{describe_os_error(exc)} (the next run tries again)")
            return
        if self.moved_to is None:
            self.note = "an identical copy is in the ingested folder already: this one was removed"
        elif self.moved_to.parent != self.ingested_dir / self.listing.relative.parent:
            self.note = f"a different file has its name in the ingested folder: archived as {self.moved_to}"

    def close(self) -> None:
        self.reader.close()


def _catalog_full(exc: DatabaseError) -> DiskFull | None:
    return catalog_full(exc, then=f"{NOTHING_LOST} (zip members not recorded are read again by the next run)")


@dataclass(frozen=True)
class ZipOutcome:
    """Where one zip stands after a run (members: the OHLCVT members; junk and skipped entries apart)."""

    path: Path
    members: int
    done: int
    failed: int
    pending: int  # not selected by this run's tier or intervals
    not_done: int  # selected but not finished (the run stopped before them)
    junk: int
    skipped: int
    moved_to: Path | None
    kept: bool  # still in the data directory
    note: str


def outcome(source: ZipArchive, summary: RunSummary) -> ZipOutcome:
    files = set(source.files)
    failed = sum(1 for r in summary.failed if r.file in files)
    listing = source.listing
    return ZipOutcome(listing.path, len(listing.members), len(source.done), failed, len(source.pending),
                      len(listing.members) - len(source.done) - failed - len(source.pending), listing.junk,
                      len(listing.skipped), source.moved_to, listing.path.exists(), source.note)
