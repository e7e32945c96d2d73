"""Kraken's downloadable OHLCVT archive: file discovery, pair names, and parsing one CSV.

Files are ``{ALTNAME}_{MINUTES}.csv`` with no header and the columns
``timestamp, open, high, low, close, volume, trades`` (timestamp: Unix seconds, UTC, start of the candle).
Parsing is columnar (polars) and chunked by bytes so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from feefifofunds.ingestion.candles import validate_candles
from feefifofunds.tiers import tier_of

from . import CANDLE_SCHEMA, CandleRequest, SourceError

ARCHIVE_INTERVALS = (1, 5, 15, 30, 60, 240, 720, 1440)
# Quote currencies seen in the archive; the longest matching suffix wins (XBTUSDT is XBT/USDT).
KNOWN_QUOTES = ("USDT", "USDC", "PYUSD", "USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD", "DAI", "XBT", "ETH",
                "DOT", "USDQ", "EURQ", "RLUSD")
# Kraken's own names for two assets, on either side of a pair.
KRAKEN_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}
COLUMNS = ("time", "open", "high", "low", "close", "volume", "trade_count")
_SCHEMA = {"time": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64, "close": pl.Float64,
           "volume": pl.Float64, "trade_count": pl.Int64}
_NAME_RE = re.compile(r"^([A-Z0-9]+)_(\d+)\.csv$")
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
    path: Path
    relative: Path  # to the data directory; kept when the file is moved
    pair: str
    base: str
    quote: str
    interval_minutes: int
    size: int

    @property
    def tier(self) -> str:
        return tier_of(self.base)


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str


@dataclass
class Discovery:
    files: list[ArchiveFile]
    skipped: list[SkippedFile]


def discover(data_dir: Path, *, tiers: set[str] | None = None, intervals: set[int] | None = None) -> Discovery:
    """OHLCVT files under ``data_dir`` (recursive), filtered by tier and interval, in a stable order.

    Anything not named like ``PAIR_MINUTES.csv`` is ignored (trade files, notes, macOS ``._*`` entries);
    a file named like one whose pair or interval is not understood is reported as skipped.
    """
    files: list[ArchiveFile] = []
    skipped: list[SkippedFile] = []
    for path in sorted(data_dir.rglob("*.csv")):
        rel = path.relative_to(data_dir)
        if path.name.startswith("._") or "__MACOSX" in rel.parts or not path.is_file():
            continue
        match = _NAME_RE.match(path.name)
        if not match:
            if "_" in path.stem:
                skipped.append(SkippedFile(path, "file name is not PAIR_MINUTES.csv"))
            continue
        pair, minutes = match[1], int(match[2])
        if minutes not in ARCHIVE_INTERVALS:
            skipped.append(SkippedFile(path, f"unknown interval {minutes} (archive intervals: "
                                             f"{', '.join(map(str, ARCHIVE_INTERVALS))})"))
            continue
        split = split_pair(pair)
        if split is None:
            skipped.append(SkippedFile(path, f"cannot split pair {pair!r} into base and a known quote currency"))
            continue
        f = ArchiveFile(path, rel, pair, split[0], split[1], minutes, path.stat().st_size)
        if tiers and f.tier not in tiers:
            continue
        if intervals and minutes not in intervals:
            continue
        files.append(f)
    return Discovery(files, skipped)


class MalformedFile(SourceError):
    def __init__(self, path: Path, line: int | None, reason: str):
        self.path, self.line, self.reason = path, line, reason
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {reason}")


def _diagnose(path: Path, text: str, first_line: int) -> MalformedFile:
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
                int(value) if name in ("time", "trade_count") else float(value)
            except ValueError:
                return MalformedFile(path, line_no, f"{name} is not a number: {value.strip()[:40]!r}")
    return MalformedFile(path, first_line, "unparseable CSV")


def _parse_chunk(path: Path, data: bytes, first_line: int) -> pl.DataFrame:
    try:
        df = pl.read_csv(io.BytesIO(data), has_header=False, new_columns=list(COLUMNS), schema=_SCHEMA,
                         truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, ValueError):
        raise _diagnose(path, data.decode("utf-8", errors="replace"), first_line) from None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    nulls = df.select(pl.any_horizontal(pl.all().is_null()).arg_true()).to_series()
    if nulls.len() or df.height != lines:
        raise _diagnose(path, data.decode("utf-8", errors="replace"), first_line)
    return df


def iter_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, pl.DataFrame, int]]:
    """(first line number, candles, bytes) per chunk of whole lines; ``time`` stays Unix seconds (Int64)."""
    line = 1
    with open(path, "rb") as fh:
        rest = b""
        while True:
            block = fh.read(chunk_bytes)
            data = rest + block
            if not block:
                if data.strip():
                    yield line, _parse_chunk(path, data, line), len(data)
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            data, rest = data[: cut + 1], data[cut + 1:]
            yield line, _parse_chunk(path, data, line), len(data)
            line += data.count(b"\n")


def check_chunk(path: Path, first_line: int, df: pl.DataFrame, interval_minutes: int) -> None:
    problem = validate_candles(df, interval_minutes)
    if problem is not None:
        raise MalformedFile(path, first_line + problem.row, problem.reason)


def has_data(path: Path) -> bool:
    """False for a file with no data rows (empty or whitespace only)."""
    with open(path, "rb") as fh:
        while block := fh.read(1 << 16):
            if block.strip():
                return True
    return False


def read_file(path: Path, interval_minutes: int) -> pl.DataFrame:
    """A whole file, validated (for small files and the Source interface)."""
    frames = []
    for first_line, df, _ in iter_chunks(path):
        check_chunk(path, first_line, df, interval_minutes)
        frames.append(df)
    return pl.concat(frames) if frames else pl.DataFrame(schema=_SCHEMA)


class KrakenArchiveSource:
    """The archive behind the common Source interface: candles of one pair file in a time range."""

    name = "kraken"
    intervals = ARCHIVE_INTERVALS

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)

    def fetch(self, request: CandleRequest) -> pl.DataFrame:
        wanted = (request.ticker.upper(), request.quote_currency.upper(), request.interval_minutes)
        found = [f for f in discover(self.data_dir).files if (f.base, f.quote, f.interval_minutes) == wanted]
        if not found:
            raise SourceError(f"no archive file for {wanted[0]}/{wanted[1]} at {wanted[2]} minutes in {self.data_dir}")
        df = read_file(found[0].path, request.interval_minutes)
        start, end = (int(_utc(t).timestamp()) for t in (request.start, request.end))
        df = df.filter((pl.col("time") >= start) & (pl.col("time") < end)).sort("time")
        return df.with_columns(
            pl.from_epoch("time", time_unit="s").dt.cast_time_unit("us").dt.replace_time_zone("UTC"),
            pl.lit(None, dtype=pl.Float64).alias("vwap"),
        ).select(list(CANDLE_SCHEMA)).cast(CANDLE_SCHEMA)


def _utc(t: datetime) -> datetime:
    from datetime import UTC

    return t if t.tzinfo else t.replace(tzinfo=UTC)
