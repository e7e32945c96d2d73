"""Moving ingested originals (CSV files, finished zips) out of the data directory, never replacing a file
already archived.

Into an ingested folder on another filesystem the move is a copy, then a delete; when that folder fills up
during the copy, the partial copy is removed, the original stays where it was, and ``DiskFull`` names the
ingested folder (its rows are committed: the next run sends the file again, DEDUP absorbs the repeat).
"""

from __future__ import annotations

import errno
import filecmp
import hashlib
import os
import shutil
from pathlib import Path

from feefifofunds.diskfull import NOTHING_LOST, full, is_full


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


def archive_destination(path: Path, relative: Path, ingested_dir: Path, run_folder: str) -> Path | None:
    """Where the original goes in the ingested folder; None if a byte-identical copy is there already.

    Never an existing file: the quarterly updates all put ``XBTUSD_60.csv`` at their root, so when the
    name is taken by a different file, the new one goes to ``<run_folder>/<relative path>``.
    """
    primary = ingested_dir / relative
    candidates = [primary]
    if ingested_dir.is_dir():
        candidates += [d / relative for d in sorted(ingested_dir.glob("run-*")) if d.is_dir()]
    for existing in candidates:
        if existing.is_file() and filecmp.cmp(existing, path, shallow=False):
            return None
    if not primary.exists():
        return primary
    dest = ingested_dir / run_folder / relative
    if dest.exists():  # two runs within one second: make the folder unique by content
        digest = _digest(path)
        dest = ingested_dir / f"{run_folder}-{digest}" / relative
    return dest


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()[:12]


def archive_original(path: Path, relative: Path, ingested_dir: Path, run_folder: str, *,
                     fsync: bool) -> Path | None:
    """Move an ingested file (``relative``: its place under the data directory) out of the data directory
    without ever replacing an archived file; where it went (None: an identical copy was there, it is gone).
    No space left in the ingested folder: DiskFull, the original in place and no partial copy left."""
    try:
        return _archive(path, relative, ingested_dir, run_folder, fsync=fsync)
    except OSError as exc:
        if is_full(exc):
            raise full("the ingested folder", ingested_dir, exc,
                       then=f"{NOTHING_LOST} (files not moved stay where they are; the next run sends them again)") \
                from None
        raise


def _archive(path: Path, relative: Path, ingested_dir: Path, run_folder: str, *, fsync: bool) -> Path | None:
    dest = archive_destination(path, relative, ingested_dir, run_folder)
    if dest is None:
        path.unlink()
        if fsync:
            fsync_path(path.parent)
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, dest)  # fails rather than replace an existing file
        path.unlink()
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # another filesystem: copy, then delete
            raise
        try:
            shutil.copy2(path, dest)
        except BaseException:
            dest.unlink(missing_ok=True)  # never a partial copy: the original is still the file
            raise
        path.unlink()
    if fsync:
        fsync_path(dest)
        fsync_path(dest.parent)
        fsync_path(path.parent)
    return dest
