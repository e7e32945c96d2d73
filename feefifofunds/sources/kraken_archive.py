"""Kraken's downloadable OHLCVT archive: file discovery, pair names, and parsing one CSV.

Files are ``{ALTNAME}_{MINUTES}.csv`` with no header and the columns
``timestamp, open, high, low, close, volume, trades`` (timestamp: Unix seconds, UTC, start of the candle).
Kraken ships them as ZIP files; a file is read from a path or from a binary stream (a zip member), so the
same parser serves both. Parsing is columnar (polars) and chunked by bytes so memory stays bounded
whatever the file size.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl

from feefifofunds.timeframes import INTERVALS

from . import SourceError
from .validation import PREVIOUS_LINE, validate_archive_times, validate_candles

# Quote currencies seen in the archive; the longest matching suffix wins (XBTUSDT is XBT/USDT).
KNOWN_QUOTES = ("USDT", "USDC", "PYUSD", "USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD", "DAI", "XBT", "ETH",
                "DOT", "USDQ", "EURQ", "RLUSD")
# Kraken's own names for two assets, on either side of a pair.
KRAKEN_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}
COLUMNS = ("time", "open", "high", "low", "close", "volume", "trade_count")
_SCHEMA = {"time": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64, "close": pl.Float64,
           "volume": pl.Float64, "trade_count": pl.Int64}
_NAME_RE = re.compile(r"^([A-Z0-9]+)_([0-9]+)\.csv$", re.ASCII)  # ASCII digits: "٦٠" is not 60
CHUNK_BYTES = 16 * 1024 * 1024


def normalize_asset(code: str) -> str:
    return KRAKEN_ALIASES.get(code, code)


def split_pair(pair: str) -> tuple[str, str] | None:
    """(base, quote) in our tickers (BTC, not XBT), by the longest known quote suffix; None if unknown."""
    for quote in sorted(KNOWN_QUOTES, key=len, reverse=True):
        if pair.endswith(quote) and len(pair) > len(quote):
            return normalize_asset(pair[: -len(quote)]), normalize_asset(quote)
    return None


@dataclass(frozen=True)
class ArchiveFile:
    path: Path  # the CSV file; for a member of a zip, the zip
    relative: Path  # to the data directory, kept when the file is moved; for a member, its name in the zip
    pair: str
    base: str
    quote: str
    interval_minutes: int
    size: int  # bytes (a member: uncompressed)
    member: str = ""  # the member's name when the file is inside a zip

    @property
    def label(self) -> str:
        """How messages name the file: its path, or ``zip:member``."""
        return f"{self.path}:{self.member}" if self.member else str(self.path)


@dataclass(frozen=True)
class ArchiveName:
    """What a file name ``PAIR_MINUTES.csv`` says."""

    pair: str
    base: str
    quote: str
    interval_minutes: int


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str
    member: str = ""  # a member of the zip ``path``


@dataclass
class Discovery:
    files: list[ArchiveFile]
    skipped: list[SkippedFile]
    zips: list[Path] = field(default_factory=list)  # ZIP files as Kraken ships them (read member by member)


def discover(data_dir: Path, *, intervals: set[int] | None = None) -> Discovery:
    """OHLCVT files and ZIP files under ``data_dir`` (recursive), files filtered by interval, in a stable order.

    Anything not named like ``PAIR_MINUTES.csv`` is ignored (trade files, notes, macOS ``._*`` entries);
    a file named like one whose pair or interval is not understood is reported as skipped, and so is a
    symbolic link: ingesting moves the file, and moving a link would archive the link, not the data.
    (The tier filter needs the catalog: see ``feefifofunds.catalog.asset_tiers``.)
    """
    files: list[ArchiveFile] = []
    skipped: list[SkippedFile] = []
    for path in sorted(data_dir.rglob("*.csv")):
        rel = path.relative_to(data_dir)
        if is_junk(rel.parts):
            continue
        if _linked(data_dir, rel):
            if _NAME_RE.match(path.name):
                skipped.append(SkippedFile(path, "symbolic link (not followed: put the file itself in the data "
                                                 "directory)"))
            continue
        if not path.is_file():
            continue
        name = parse_name(path.name)
        if not isinstance(name, ArchiveName):
            if name is not None:
                skipped.append(SkippedFile(path, name))
            continue
        if intervals and name.interval_minutes not in intervals:
            continue
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            skipped.append(SkippedFile(path, "disappeared while the data directory was being read"))
            continue
        files.append(ArchiveFile(path, rel, name.pair, name.base, name.quote, name.interval_minutes, size))
    zips: list[Path] = []
    for path in sorted(data_dir.rglob("*.zip")):
        rel = path.relative_to(data_dir)
        if is_junk(rel.parts):
            continue
        if _linked(data_dir, rel):
            skipped.append(SkippedFile(path, "symbolic link (not followed: put the zip itself in the data "
                                             "directory)"))
        elif path.is_file():
            zips.append(path)
    return Discovery(files, skipped, zips)


def _linked(data_dir: Path, rel: Path) -> bool:
    """The path is a symbolic link or inside a linked folder of the data directory (never followed)."""
    return any((data_dir / p).is_symlink() for p in [rel, *list(rel.parents)[:-1]])


def is_junk(parts: tuple[str, ...]) -> bool:
    """macOS metadata (``__MACOSX/``, ``._*`` resource forks), in folders and in zips made on a Mac: no data."""
    return parts[-1].startswith("._") or "__MACOSX" in parts


def parse_name(file_name: str) -> ArchiveName | str | None:
    """What an OHLCVT file name says; a reason (str) when it looks like one but is not understood; None for
    anything else (trade files ``PAIR.csv``, notes)."""
    match = _NAME_RE.match(file_name)
    if not match:
        return "file name is not PAIR_MINUTES.csv" if "_" in file_name.removesuffix(".csv") else None
    pair, minutes = match[1], int(match[2])
    if minutes not in INTERVALS:
        return f"unknown interval {minutes} (archive intervals: {', '.join(map(str, INTERVALS))})"
    split = split_pair(pair)
    if split is None:
        return f"cannot split pair {pair!r} into base and a known quote currency"
    return ArchiveName(pair, split[0], split[1], minutes)


class MalformedFile(SourceError):
    """A file (or zip member: ``path`` is then its label) that cannot be taken; the message says where."""

    def __init__(self, path: Path | str, line: int | None, reason: str):
        self.path, self.line, self.reason = path, line, reason
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {reason}")


def _diagnose(path: Path | str, text: str, first_line: int) -> MalformedFile:
    """Slow path, only after the columnar parser refused a chunk: find the first bad line and say why."""
    for offset, raw in enumerate(text.splitlines()):
        line_no = first_line + offset
        if not raw.strip():
            return MalformedFile(path, line_no, "empty line")
        fields = raw.split(",")
        if len(fields) != 7:
            return MalformedFile(path, line_no, f"expected 7 columns, found {len(fields)}")
        for name, value in zip(COLUMNS, fields, strict=True):
            try:
                number = int(value) if name in ("time", "trade_count") else float(value)
            except ValueError:
                return MalformedFile(path, line_no, f"{name} is not a number: {value.strip()[:40]!r}")
            if isinstance(number, int) and not -(2**63) <= number < 2**63:
                return MalformedFile(path, line_no, f"{name} {value.strip()[:40]} is out of range "
                                                    "(larger than a 64-bit integer)")
    return MalformedFile(path, first_line, "unparseable CSV")


def parse_lines(data: bytes) -> pl.DataFrame | None:
    """Whole lines as candles, every value present; None if any line is not seven numbers
    (``parse_chunk`` then says which)."""
    try:
        df = pl.read_csv(io.BytesIO(data), has_header=False, new_columns=list(COLUMNS), schema=_SCHEMA,
                         truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, ValueError):
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    nulls = df.select(pl.any_horizontal(pl.all().is_null()).arg_true()).to_series()
    return None if nulls.len() or df.height != lines else df


def parse_chunk(path: Path | str, data: bytes, first_line: int) -> pl.DataFrame:
    """``parse_lines``, or MalformedFile naming the first bad line (``first_line`` is the number of the
    first)."""
    df = parse_lines(data)
    if df is None:
        raise _diagnose(path, data.decode("utf-8", errors="replace"), first_line)
    return df


def _reading(source: Path | BinaryIO) -> AbstractContextManager[BinaryIO]:
    return open(source, "rb") if isinstance(source, str | os.PathLike) else nullcontext(source)


def iter_chunks(source: Path | BinaryIO, chunk_bytes: int = CHUNK_BYTES, *, label: str | None = None,
                whole: bool = False) -> Iterator[tuple[int, pl.DataFrame, int]]:
    """(first line number, candles, bytes) per chunk of whole lines; ``time`` stays Unix seconds (Int64).

    ``source`` is a path or a binary stream (``label`` names a stream in messages). A last line without a
    newline means a loose file may be cut short, and is refused; a stream that proves itself ``whole`` when
    it ends (a zip member: its CRC-32 and size are checked at its end) may end without one.
    """
    where = label or source
    line = 1
    with _reading(source) as fh:
        rest = b""
        while True:
            block = fh.read(chunk_bytes)
            data = rest + block
            if not block:
                if data.strip():
                    if whole:
                        yield line, parse_chunk(where, data + b"\n", line), len(data)
                        return
                    last = line + data.count(b"\n")
                    raise MalformedFile(where, last, "the last line has no newline: the file may be truncated "
                                                     "(if the line is complete, it only needs its newline)")
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            data, rest = data[: cut + 1], data[cut + 1:]
            yield line, parse_chunk(where, data, line), len(data)
            line += data.count(b"\n")


def check_chunk(path: Path | str, first_line: int, df: pl.DataFrame, interval_minutes: int, *,
                now: float | None = None, previous: int | None = None) -> None:
    """Every rule a candle of the archive must pass; ``previous`` is the last time of the chunk before."""
    times = df.get_column("time")
    problems = [validate_archive_times(times, interval_minutes, now=time.time() if now is None else now,
                                       previous=previous),
                validate_candles(df, interval_minutes)]
    found = [p for p in problems if p is not None]
    if found:
        problem = min(found, key=lambda p: p.row)  # ties: the time problem (it explains the others)
        line = first_line + problem.row
        raise MalformedFile(path, line, problem.reason.replace(PREVIOUS_LINE, f"line {line - 1}"))


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed every check: its extent, and its candles when it was small enough to keep."""

    rows: int
    first_time: int
    last_time: int
    frames: list[pl.DataFrame] | None  # None: too large to keep, read it again to write it


def check_file(path: Path, interval_minutes: int, *, chunk_bytes: int = CHUNK_BYTES, keep_bytes: int = CHUNK_BYTES,
               now: float | None = None) -> CheckedFile:
    """Validate the WHOLE file (every chunk, times increasing across chunks) before any row is written.

    Raises MalformedFile (file:line:reason) or OSError. Files up to ``keep_bytes`` keep their parsed
    candles, so they are read once; larger ones are read again chunk by chunk when written.
    """
    now = time.time() if now is None else now
    keep = path.stat().st_size <= keep_bytes
    frames: list[pl.DataFrame] = []
    rows, first, last = 0, None, None
    for first_line, df, _ in iter_chunks(path, chunk_bytes):
        check_chunk(path, first_line, df, interval_minutes, now=now, previous=last)
        if df.height:
            first = df.item(0, "time") if first is None else first
            last = df.item(df.height - 1, "time")
            rows += df.height
            if keep:
                frames.append(df)
    if first is None or last is None:
        raise MalformedFile(path, None, "no candles")
    return CheckedFile(rows, first, last, frames if keep else None)


def has_data(source: Path | BinaryIO, block_bytes: int = 1 << 16) -> bool:
    """False for a file (path or binary stream) with no data rows (empty or whitespace only)."""
    with _reading(source) as fh:
        while block := fh.read(block_bytes):
            if block.strip():
                return True
    return False


def read_file(path: Path, interval_minutes: int) -> pl.DataFrame:
    """A whole file, validated (small files: samples, tests)."""
    frames = []
    previous = None
    for first_line, df, _ in iter_chunks(path):
        check_chunk(path, first_line, df, interval_minutes, previous=previous)
        if df.height:
            previous = df.item(df.height - 1, "time")
        frames.append(df)
    return pl.concat(frames) if frames else pl.DataFrame(schema=_SCHEMA)


def first_time(source: Path | BinaryIO) -> int | None:
    """The time on the first line of a file (path or binary stream; cheap: orders files of one series); None
    if it cannot be read."""
    try:
        with _reading(source) as fh:
            head = fh.readline(256)
        return int(head.split(b",", 1)[0])
    except (OSError, ValueError):
        return None
