"""Build Kraken OHLCVT archive files for tests: real excerpts (tests/fixtures/kraken), generated series, and
zips as Kraken ships them (damaged ones too)."""

from __future__ import annotations

import shutil
import struct
import zipfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "feefifofunds" / "samples" / "kraken"


def copy_real_samples(data_dir: Path) -> list[Path]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, data_dir / p.name)) for p in sorted(FIXTURES.glob("*.csv"))]


def candle_lines(interval_minutes: int, count: int, *, start: int = 1_700_006_400, price: float = 100.0,
                 skip: set[int] = frozenset()) -> list[str]:
    """``count`` aligned candles (minus the indexes in ``skip``: no-trade intervals) as archive lines."""
    step = interval_minutes * 60
    start -= start % step
    lines = []
    for i in range(count):
        if i in skip:
            continue
        o = price + i * 0.5
        lines.append(f"{start + i * step},{o},{o + 2.25},{o - 1.125},{o + 0.75},{10 + i * 0.001:.6f},{i % 50 + 1}")
    return lines


def write_file(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def csv_bytes(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def write_zip(path: Path, members: dict[str, list[str] | bytes], *,
              compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip as Kraken ships it; a member's lines get their newlines, bytes are stored as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, content in members.items():
            zf.writestr(name, content if isinstance(content, bytes) else csv_bytes(content))
    return path


def _member(path: Path, name: str) -> tuple[int, zipfile.ZipInfo]:
    """Where the member's (compressed) data starts in the zip, and its directory entry."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len, info


def flip_byte(path: Path, name: str, at: int | None = None) -> None:
    """Damage one byte of a member's compressed data (default: its middle), as a bad download would."""
    start, info = _member(path, name)
    data = bytearray(path.read_bytes())
    data[start + (info.compress_size // 2 if at is None else at)] ^= 0x01
    path.write_bytes(bytes(data))


def member_offset(path: Path, name: str, needle: bytes) -> int:
    """Where ``needle`` first occurs in a stored (uncompressed) member's data."""
    start, info = _member(path, name)
    return path.read_bytes()[start:start + info.compress_size].index(needle)


def set_method(path: Path, name: str, method: int) -> None:
    """Mark a member as compressed with ``method`` (9: Deflate64) in its local header and the central directory."""
    _, info = _member(path, name)
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, info.header_offset + 8, method)
    with zipfile.ZipFile(path) as zf:
        entry = zf.start_dir
    while True:  # walk the central directory to the member's entry
        n, m, k = struct.unpack("<HHH", data[entry + 28:entry + 34])
        if data[entry + 46:entry + 46 + n].decode() == name:
            struct.pack_into("<H", data, entry + 10, method)
            break
        entry += 46 + n + m + k
    path.write_bytes(bytes(data))
