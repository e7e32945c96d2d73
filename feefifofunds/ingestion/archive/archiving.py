"""Moving ingested originals out of the data directory, never replacing a file already archived."""

from __future__ import annotations

import errno
import filecmp
import hashlib
import os
import shutil
from pathlib import Path

from feefifofunds.sources.kraken_archive import ArchiveFile


def fsync_default() -> bool:
    """``FEEFIFOFUNDS_FSYNC=1``: fsync every archived file and its folders (survives a power loss)."""
    return os.environ.get("FEEFIFOFUNDS_FSYNC", "").strip().lower() in ("1", "true", "yes", "on")


def default_ingested_dir(data_dir: Path) -> Path:
    return data_dir.resolve().parent / "ingested" / "ohlcv"


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def archive_destination(f: ArchiveFile, ingested_dir: Path, run_folder: str) -> Path | None:
    """Where the original goes in the ingested folder; None if a byte-identical copy is there already.

    Never an existing file: the quarterly updates all put ``XBTUSD_60.csv`` at their root, so when the
    name is taken by a different file, the new one goes to ``<run_folder>/<relative path>``.
    """
    primary = ingested_dir / f.relative
    candidates = [primary]
    if ingested_dir.is_dir():
        candidates += [d / f.relative for d in sorted(ingested_dir.glob("run-*")) if d.is_dir()]
    for existing in candidates:
        if existing.is_file() and filecmp.cmp(existing, f.path, shallow=False):
            return None
    if not primary.exists():
        return primary
    dest = ingested_dir / run_folder / f.relative
    if dest.exists():  # two runs within one second: make the folder unique by content
        digest = hashlib.sha256(f.path.read_bytes()).hexdigest()[:12]
        dest = ingested_dir / f"{run_folder}-{digest}" / f.relative
    return dest


def archive_original(f: ArchiveFile, ingested_dir: Path, run_folder: str, *, fsync: bool) -> Path | None:
    """Move the ingested file out of the data directory without ever replacing an archived file."""
    dest = archive_destination(f, ingested_dir, run_folder)
    if dest is None:
        f.path.unlink()
        if fsync:
            fsync_path(f.path.parent)
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(f.path, dest)  # fails rather than replace an existing file
        f.path.unlink()
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # another filesystem: copy, then delete
            raise
        shutil.copy2(f.path, dest)
        f.path.unlink()
    if fsync:
        fsync_path(dest)
        fsync_path(dest.parent)
        fsync_path(f.path.parent)
    return dest
