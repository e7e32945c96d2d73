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
import stat
from pathlib import Path

from feefifofunds.diskfull import NOTHING_LOST, DiskFull, full, is_full


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


def run_folders(ingested_dir: Path) -> list[Path]:
    """The ``run-*`` folders of the ingested folder (where earlier runs put files whose name was taken)."""
    try:
        with os.scandir(ingested_dir) as entries:
            return sorted(Path(e.path) for e in entries if e.name.startswith("run-") and e.is_dir())
    except FileNotFoundError:
        return []


class Listings(dict[Path, set[str]]):
    """The names in each folder the destinations of many files are looked for in, each folder listed once:
    a name is looked up in a set, and only a name that is there costs a stat and a comparison (one stat
    per file and earlier run folder would make each daily run cost what every run before it archived)."""

    def names(self, folder: Path) -> set[str]:
        if folder not in self:
            try:
                self[folder] = set(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                self[folder] = set()
        return self[folder]

    def exists(self, path: Path) -> bool:
        return path.name in self.names(path.parent)

    def added(self, path: Path) -> None:
        if path.parent in self:
            self[path.parent].add(path.name)


def archive_destination(path: Path, relative: Path, ingested_dir: Path, run_folder: str, *,
                        folders: list[Path] | None = None, listings: Listings | None = None) -> Path | None:
    """Where the original goes in the ingested folder; None if a byte-identical copy is there already.

    Never an existing file: the quarterly updates all put ``XBTUSD_60.csv`` at their root, so when the
    name is taken by a different file, the new one goes to ``<run_folder>/<relative path>``. ``folders``:
    the ``run_folders`` listed once for many files (the folder holds every archived file: listing it per
    file would cost each file as much as all before it); ``listings``: the folders' names, for many files.
    """
    exists = Path.exists if listings is None else listings.exists  # one file: a stat beats a listing
    primary = ingested_dir / relative
    candidates = [primary] + [d / relative for d in (run_folders(ingested_dir) if folders is None else folders)]
    size = None
    for existing in candidates:
        if not exists(existing):
            continue
        size = path.stat().st_size if size is None else size
        try:
            found = existing.stat()
        except FileNotFoundError:  # removed since the folder was listed
            continue
        if stat.S_ISREG(found.st_mode) and found.st_size == size and filecmp.cmp(existing, path, shallow=False):
            return None
    if not exists(primary):
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
    folders: set[Path] = set()
    try:
        dest = _move(path, relative, ingested_dir, run_folder, fsync=fsync, folders=folders, listed=None)
        for folder in sorted(folders):
            fsync_path(folder)
    except OSError as exc:
        disk_full = _full(exc, ingested_dir)
        if disk_full is not None:
            raise disk_full from None
        raise
    return dest


def archive_many(files: list[tuple[Path, Path]], ingested_dir: Path, run_folder: str, *,
                 fsync: bool) -> list[Path | None | OSError | DiskFull]:
    """``archive_original`` for many (path, relative) files at once, what became of each (or the error
    that kept it in place) in their order: the ingested folder's ``run-*`` folders are listed once, and
    with ``fsync`` each file is synced as it moves, each folder once at the end (a file is reported moved
    only once its folders are synced). A full ingested folder ends the list there (its DiskFull the last
    outcome): the files after it are not tried."""
    listed = run_folders(ingested_dir)
    listings = Listings()
    outcomes: list[Path | None | OSError | DiskFull] = []
    touched: list[set[Path]] = []
    for path, relative in files:
        folders: set[Path] = set()
        try:
            outcomes.append(_move(path, relative, ingested_dir, run_folder, fsync=fsync, folders=folders,
                                  listed=listed, listings=listings))
        except OSError as exc:
            outcomes.append(_full(exc, ingested_dir) or exc)
        touched.append(folders)
        if isinstance(outcomes[-1], DiskFull):
            break
    failed: dict[Path, OSError | DiskFull] = {}
    for folder in sorted(set().union(*touched)):
        try:
            fsync_path(folder)
        except OSError as exc:
            failed[folder] = _full(exc, ingested_dir) or exc
    if failed:
        for i, folders in enumerate(touched):
            if not isinstance(outcomes[i], OSError | DiskFull) and (bad := folders & failed.keys()):
                outcomes[i] = failed[min(bad)]
    return outcomes


def _full(exc: OSError, ingested_dir: Path) -> DiskFull | None:
    if not is_full(exc):
        return None
    return full("the ingested folder", ingested_dir, exc,
                then=f"{NOTHING_LOST} (files not moved stay where they are; the next run sends them again)")


def _move(path: Path, relative: Path, ingested_dir: Path, run_folder: str, *, fsync: bool, folders: set[Path],
          listed: list[Path] | None, listings: Listings | None = None) -> Path | None:
    """The move itself; with ``fsync``, the moved file is synced and its folders added to ``folders``."""
    dest = archive_destination(path, relative, ingested_dir, run_folder, folders=listed, listings=listings)
    if dest is None:
        path.unlink()
        if fsync:
            folders.add(path.parent)
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
    if listings is not None:
        listings.added(dest)
    if fsync:
        fsync_path(dest)
        folders.update((dest.parent, path.parent))
    return dest
