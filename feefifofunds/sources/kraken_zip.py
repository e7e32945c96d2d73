"""Kraken's archive as it ships, ZIP files: listing one, knowing it again, reading its members as streams.

``list_zip`` reads a zip's central directory once: each member named ``PAIR_MINUTES.csv`` (in whatever
folder) becomes an ``ArchiveFile`` whose ``path`` is the zip and ``member`` its name; macOS junk
(``__MACOSX/``, ``._*``) is counted, names not understood are skipped with a reason. The zip is known by its
``ZipIdentity``: name, size and a SHA-256 of its central directory (which holds every member's name, sizes
and CRC-32), cheap to compute and the same for an identical download. A file that is no zip, or whose
central directory is cut short (a partial download), is ``UnreadableZip``.

``ZipReader`` opens members as streams, nothing is extracted. Deflated members (all of Kraken's) are
inflated by ISA-L (``Inflated``: 617 MiB/s against zlib's 220 on this machine, so inflating costs ~0.1 µs
per row instead of ~0.3), others by zipfile; ``MemberStream`` turns what either raises into ``MalformedFile``
naming ``zip:member``. A member's CRC-32 and size are checked when its stream ends, so a damaged member
fails at its end, after every block of it was read (callers drop what they took of it).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from isal import isal_zlib

from . import kraken_archive as archive
from .kraken_archive import ArchiveFile, ArchiveName, MalformedFile, SkippedFile

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
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:  # e.g. a multi-disk zip
        raise UnreadableZip(path, f"not a readable zip ({exc}: not a zip file, or cut short as by a partial "
                                  "download; download it again)") from None
    except OSError as exc:
        raise UnreadableZip(path, f"cannot read: {exc.strerror or exc}") from None
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


def _central_directory_digest(path: Path, start_dir: int) -> tuple[int, str]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(start_dir)
        while block := fh.read(1 << 20):
            h.update(block)
    return size, h.hexdigest()


class MemberStream:
    """A member's inflated bytes; what inflating raises (ISA-L or zipfile) becomes ``MalformedFile`` naming
    ``zip:member``, and a stream that ends checks its size too (its CRC-32 was checked on the last read)."""

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
    """A deflated member inflated by ISA-L from a file handle of its own (three times zlib's speed, see the
    module docstring; the 2 cores are busy parsing and sending, so inflating cannot hide behind them); its
    CRC-32 and size are checked when it ends, as zipfile does."""

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
                compressed = self.fh.read(min(self.left, max(n // 2, 1 << 14)))
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

    def readline(self, limit: int = -1) -> bytes:  # a first line only (ordering the plan): a block is plenty
        head = self.read(max(limit, 4096))
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


class ZipReader:
    """Opens the members of one zip as ``MemberStream``s (zipfile's own reader opened once, when needed)."""

    def __init__(self, path: Path, infos: dict[str, zipfile.ZipInfo]):
        self.path, self.infos = path, infos
        self._zip: zipfile.ZipFile | None = None

    @contextmanager
    def open(self, f: ArchiveFile) -> Iterator[MemberStream]:
        info = self.infos[f.member]
        try:
            if info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 1:  # not encrypted
                raw = Inflated(self.path, info)
            else:  # stored, bzip2, lzma (and what zipfile refuses, with its reason)
                if self._zip is None:
                    self._zip = zipfile.ZipFile(self.path)
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

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None


