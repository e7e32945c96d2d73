"""Kraken's archive as it ships: ZIP files, every member a file of the job, read straight from the zip.

``list_zip`` reads a zip's central directory once: each member named ``PAIR_MINUTES.csv`` (in whatever
folder) becomes an ``ArchiveFile`` whose ``path`` is the zip and ``member`` its name; macOS junk
(``__MACOSX/``, ``._*``) is counted, names not understood are skipped with a reason. The zip is known by its
``ZipIdentity``: name, size and a SHA-256 of its central directory (which holds every member's name, sizes
and CRC-32), cheap to compute and the same for an identical download.

``ZipArchive`` is the job's input for one zip. The members a store already holds (``ZipMemberDone`` rows of
that store and identity) are left out, so a rerun reads no finished member again; of the others, those
the caller wants (tier, intervals) are the files of the run, the rest stay pending. A member is recorded
once its rows are committed (``finish``), or when it proved empty.

Members are inflated as streams, nothing is extracted. Deflated members (all of Kraken's) are inflated by
ISA-L (``Inflated``, three times zlib's speed), others by zipfile; ``MemberStream`` turns what either raises
into ``MalformedFile`` naming ``zip:member``. A member's CRC-32 and size are checked when its stream ends,
so a damaged member fails at its end and the job drops what it staged of it (it fails alone, nothing of it
stored); a bad line in a member whose CRC fails is reported as the damage it is (``diagnose``); a member
whose CRC checks may end without a newline.

Once every member is done (or was empty, junk or skipped) the zip moves to the ingested folder, never over
a different file; a failed or pending member keeps it in place for the next run.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.db import DatabaseError
from isal import isal_zlib

from feefifofunds.models import ZipMemberDone
from feefifofunds.sources import kraken_archive as archive
from feefifofunds.sources.kraken_archive import CHUNK_BYTES, ArchiveFile, ArchiveName, MalformedFile, SkippedFile

from .archiving import archive_original
from .inputs import ArchiveInput, Chunk, FinishError
from .outcomes import RunSummary, describe_os_error

# Compression methods zipfile cannot inflate, by number (PKWARE APPNOTE 4.4.5).
UNSUPPORTED_METHODS = {9: "Deflate64", 10: "PKWARE DCL Implode", 18: "IBM TERSE", 19: "IBM LZ77", 93: "Zstandard",
                       95: "XZ", 96: "JPEG", 97: "WavPack", 98: "PPMd", 99: "AES encryption"}


@dataclass(frozen=True)
class ZipIdentity:
    name: str
    size: int
    digest: str  # SHA-256 of the central directory (and the end records after it)


class UnreadableZip(Exception):
    """A file that is no zip or whose central directory is cut short: nothing is read from it."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}; nothing was read from it")


@dataclass
class ZipListing:
    path: Path
    relative: Path  # to the data directory: where it goes under the ingested folder
    identity: ZipIdentity
    members: list[ArchiveFile]  # the OHLCVT members
    infos: dict[str, zipfile.ZipInfo]  # by member name
    skipped: list[SkippedFile] = field(default_factory=list)  # named like data, not understood
    junk: int = 0  # macOS metadata entries
    ignored: int = 0  # other entries (folders, notes, trade files)


def list_zip(path: Path, data_dir: Path) -> ZipListing:
    """The zip's members as archive files; raises ``UnreadableZip`` for anything that is not a whole zip."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            start_dir = zf.start_dir
        size, digest = _central_directory_digest(path, start_dir)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise UnreadableZip(path, f"not a readable zip ({exc}: not a zip file, or cut short as by a partial "
                                  "download; download it again)") from None
    except OSError as exc:
        raise UnreadableZip(path, f"cannot read: {describe_os_error(exc)}") from None
    listing = ZipListing(path, path.relative_to(data_dir), ZipIdentity(path.name, size, digest), [], {})
    for info in infos:
        parts = PurePosixPath(info.filename).parts
        if info.is_dir() or not parts:
            continue
        if archive.is_junk(parts):
            listing.junk += 1
            continue
        name = archive.parse_name(parts[-1]) if parts[-1].endswith(".csv") else None
        if not isinstance(name, ArchiveName):
            if name is None:
                listing.ignored += 1
            else:
                listing.skipped.append(SkippedFile(path, name, member=info.filename))
            continue
        if info.filename in listing.infos:
            listing.skipped.append(SkippedFile(path, "the zip holds two members of this name: the first is read",
                                               member=info.filename))
            continue
        listing.infos[info.filename] = info
        listing.members.append(ArchiveFile(path, Path(info.filename), name.pair, name.base, name.quote,
                                           name.interval_minutes, info.file_size, member=info.filename))
    return listing


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
    (a run killed after its last member). Raises DatabaseError if the catalog does not answer."""
    out = []
    for listing in listings:
        source = ZipArchive(listing, store=store, root=root, ingested_dir=ingested_dir, fsync=fsync,
                            done=done_members(store, listing.identity), wanted=wanted)
        if source.complete and not source.pending:
            source.release()
        out.append(source)
    return out


def _central_directory_digest(path: Path, start_dir: int) -> tuple[int, str]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(start_dir)
        while block := fh.read(1 << 20):
            h.update(block)
    return size, h.hexdigest()


def done_members(store: str, identity: ZipIdentity) -> set[str]:
    """The members of this zip the store holds (raises DatabaseError if the catalog does not answer)."""
    return set(ZipMemberDone.objects.filter(store=store, zip_name=identity.name, zip_size=identity.size,
                                            zip_digest=identity.digest).values_list("member", flat=True))


def forget_zip(store: str, name: str) -> int:
    """``--rescan``: forget which members of zips named ``name`` the store holds; how many were recorded."""
    return ZipMemberDone.objects.filter(store=store, zip_name=name).delete()[0]


class MemberStream:
    """A member's inflated bytes; what zipfile raises becomes ``MalformedFile`` naming ``zip:member``, and a
    stream that ends checks its size too (zipfile checked its CRC-32 on the last read)."""

    def __init__(self, raw: BinaryIO, f: ArchiveFile):
        self.raw, self.f, self.read_bytes = raw, f, 0

    def read(self, n: int = -1) -> bytes:
        with _translated(self.f):
            data = self.raw.read(n)
        self.read_bytes += len(data)
        if not data and n != 0 and self.read_bytes != self.f.size:
            raise MalformedFile(self.f.label, None, f"damaged in the zip: {self.read_bytes:,} bytes where its "
                                                    f"directory says {self.f.size:,}; nothing of it is stored")
        return data

    def readline(self, limit: int = -1) -> bytes:
        with _translated(self.f):
            return self.raw.readline(limit)


class Inflated:
    """A deflated member inflated by ISA-L (measured 617 MiB/s against zlib's 220 on this machine: inflating
    costs 0.1 µs per row instead of 0.3, and there is no idle core to hide it on), from a file handle of
    its own; its CRC-32 and size are checked when it ends, as zipfile does."""

    def __init__(self, path: Path, info: zipfile.ZipInfo):
        self.info, self.fh = info, open(path, "rb")
        try:
            self.fh.seek(info.header_offset)
            header = self.fh.read(30)
            if len(header) < 30 or header[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"no local header for {info.filename!r} where the directory says")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            self.fh.seek(info.header_offset + 30 + name_len + extra_len)
        except BaseException:
            self.fh.close()
            raise
        self.left, self.crc, self.size, self.ended = info.compress_size, 0, 0, False
        self.inflater = isal_zlib.decompressobj(-15)

    def read(self, n: int = -1) -> bytes:
        n = n if n > 0 else 1 << 24
        while not self.ended:
            if self.inflater.eof:
                self._end()
                break
            tail = self.inflater.unconsumed_tail
            data = self.inflater.decompress(tail, n)  # output still pending inside the inflater comes first
            if not data and self.left > 0:
                compressed = self.fh.read(min(self.left, max(n // 2, 1 << 16)))
                if not compressed:
                    raise EOFError("the zip ends inside the member's compressed data")
                self.left -= len(compressed)
                data = self.inflater.decompress(compressed, n)
            if data:
                self.crc = isal_zlib.crc32(data, self.crc)
                self.size += len(data)
                return data
            if self.left == 0 and self.inflater.unconsumed_tail in (b"", tail):  # nothing more will come
                self._end()
        return b""

    def readline(self, limit: int = -1) -> bytes:  # first lines only: a block is plenty
        head = self.read(max(limit, 1 << 16))
        cut = head.find(b"\n")
        return head[: cut + 1 if cut >= 0 else len(head)][: limit if limit > 0 else None]

    def _end(self) -> None:
        self.ended = True
        if not self.inflater.eof:
            raise EOFError("the member's compressed data ends early")
        if self.size != self.info.file_size:
            raise zipfile.BadZipFile(f"{self.size:,} bytes where the directory says {self.info.file_size:,}")
        if self.crc != self.info.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {self.info.filename!r}")

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> Inflated:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_DAMAGED = (zipfile.BadZipFile, zlib.error, isal_zlib.error, EOFError)


def _damaged(f: ArchiveFile, exc: Exception) -> MalformedFile:
    return MalformedFile(f.label, None, f"damaged in the zip ({exc}); nothing of it is stored: download the zip "
                                        "again")


@contextmanager
def _translated(f: ArchiveFile) -> Iterator[None]:
    try:
        yield
    except _DAMAGED as exc:
        raise _damaged(f, exc) from None


class ZipArchive(ArchiveInput):
    """The members of one zip still to do for one store (see the module docstring); ``close`` it."""

    def __init__(self, listing: ZipListing, *, store: str, root: Path, ingested_dir: Path,
                 done: set[str] = frozenset(), wanted: Callable[[ArchiveFile], bool] = lambda f: True,
                 fsync: bool = False):
        self.listing, self.store, self.root, self.ingested_dir, self.fsync = listing, store, root, ingested_dir, fsync
        self.done = {m.member for m in listing.members if m.member in done}
        left = [m for m in listing.members if m.member not in self.done]
        self.files = [m for m in left if wanted(m)]
        self.pending = [m for m in left if not wanted(m)]  # not selected by this run's tier or intervals
        self.run_folder = "run-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.moved_to: Path | None = None
        self.note = ""  # what became of the zip when it was done (or why it could not move)
        self._zip: zipfile.ZipFile | None = None

    @property
    def complete(self) -> bool:
        """Every member is done (or was empty); junk and skipped entries count as done."""
        return len(self.done) == len(self.listing.members)

    @contextmanager
    def _open(self, f: ArchiveFile) -> Iterator[MemberStream]:
        info = self.listing.infos[f.member]
        try:
            if info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 1:  # not encrypted
                raw = Inflated(self.listing.path, info)
            else:  # stored, bzip2, lzma (and what zipfile refuses, with its reason)
                if self._zip is None:
                    self._zip = zipfile.ZipFile(self.listing.path)
                raw = self._zip.open(info)
        except NotImplementedError:
            method = UNSUPPORTED_METHODS.get(info.compress_type, "an unknown method")
            raise MalformedFile(f.label, None, f"compressed with {method} (method {info.compress_type}), which "
                                               "Python's zipfile cannot inflate: extract this member with unzip "
                                               "or 7-Zip and put the CSV file in the data directory") from None
        except RuntimeError as exc:  # encrypted
            raise MalformedFile(f.label, None, f"cannot be read: {exc}") from None
        except _DAMAGED as exc:
            raise _damaged(f, exc) from None
        with raw:
            yield MemberStream(raw, f)

    def has_data(self, f: ArchiveFile) -> bool:
        if f.size == 0:
            return False
        with self._open(f) as stream:
            return archive.has_data(stream, block_bytes=4096)

    def first_time(self, f: ArchiveFile) -> int | None:
        try:
            with self._open(f) as stream:
                return archive.first_time(stream)
        except MalformedFile:
            return None

    def chunks(self, f: ArchiveFile, chunk_bytes: int) -> Iterator[Chunk]:
        with self._open(f) as stream:
            yield from archive.iter_chunks(stream, chunk_bytes, label=f.label, whole=True)

    def head(self, f: ArchiveFile, nbytes: int) -> bytes:
        with self._open(f) as stream:
            return stream.read(nbytes)

    def diagnose(self, f: ArchiveFile, exc: MalformedFile) -> MalformedFile:
        """A bad line in a member whose CRC-32 fails is damage, not Kraken's data: say so."""
        try:
            with self._open(f) as stream:
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

    def finish(self, f: ArchiveFile) -> Path | None:
        """Record the member as held by the store; the last one moves the zip. Returns where the zip is."""
        try:
            ZipMemberDone.objects.bulk_create(
                [ZipMemberDone(store=self.store, zip_name=self.listing.identity.name,
                               zip_size=self.listing.identity.size, zip_digest=self.listing.identity.digest,
                               member=f.member)], ignore_conflicts=True)
        except DatabaseError as exc:
            raise FinishError(f"{f.label}: rows stored, but it cannot be recorded as done in the catalog "
                              f"(the next run reads it again): {exc}") from None
        self.done.add(f.member)
        if self.complete and not self.pending:
            self.release()
        return self.moved_to or self.listing.path

    def release(self) -> None:
        """Every member is done: the zip moves to the ingested folder (never over a different file)."""
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
        if self._zip is not None:
            self._zip.close()
            self._zip = None


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
