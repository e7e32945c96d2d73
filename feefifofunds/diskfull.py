"""A full disk, said once: which errors mean one, and the sentence naming what filled up, where, and what to do.

Once a folder a run writes to is full (the archive job's staging copy, its Parquet import files, the move of
done files to the ingested folder, the catalog's database, QuestDB's own disk), every next file would fail the
same way, so the write raises ``DiskFull`` and the run stops with that one message instead of a failure per
file. ``DiskFull`` is no ``OSError`` on purpose: the handlers that turn a single file's I/O error into that
file's failure must not take a full disk for one.

Kept free of the rest of the project (Django is imported only to name the catalog), so every layer can use it.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
NOTHING_LOST = "nothing committed is lost"

# QuestDB's own words when its disk is full: "[28] No space left [size=..., fd=...]" (errno in brackets, as
# its CairoException prints it), the "DISK FULL" error tag of a suspended table, or the OS's text.
_SERVER_FULL = re.compile(rf"(?:^|[\s:])\[(?:{errno.ENOSPC}|{errno.EDQUOT})\]\s|No space left|[Dd]isk quota exceeded"
                          r"|DISK FULL")
SQLITE_FULL = 13  # sqlite3's result code for "database or disk is full"
PG_DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full


class DiskFull(Exception):
    """Something the run writes to is out of space (or over its quota): the run stops; the message says what
    filled up, where, and what to do."""


def is_full(exc: BaseException | None) -> bool:
    """An OS error that means the filesystem is full or the user's quota is used up."""
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


def filesystem(path: Path | str) -> Path:
    """The mount point of the filesystem ``path`` is on (``path`` itself may not exist yet)."""
    here = Path(os.path.abspath(path))
    while not here.exists() and here != here.parent:
        here = here.parent
    while not os.path.ismount(here) and here != here.parent:
        here = here.parent
    return here


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def where_full(what: str, path: Path | str, exc: OSError | None = None) -> str:
    """"``what`` ``path`` (filesystem ``mount``, ``size``) is full" (or over its quota). No free-space figure:
    by the time it is said the run has removed its partial file, so the figure would be misleading."""
    mount = filesystem(path)
    try:
        size = f", {_size(shutil.disk_usage(mount).total)}"
    except OSError:
        size = ""
    state = "is over its disk quota" if exc is not None and exc.errno == errno.EDQUOT else "is full"
    return f"{what} {path} (filesystem {mount}{size}) {state}"


def full(what: str, path: Path | str, exc: OSError | None = None, *, then: str = NOTHING_LOST) -> DiskFull:
    """``what`` (e.g. "the staging folder") at ``path`` has no space left: the message names the folder and its
    filesystem, and what to do; ``then`` says what became of the run's work."""
    quota = exc is not None and exc.errno == errno.EDQUOT
    action = "free space there (or raise the quota)" if quota else "free space there"
    return DiskFull(f"{where_full(what, path, exc)}: {action} and run again; {then}")


def server_says_full(text: str) -> bool:
    """QuestDB's (or a database server's) error text says its disk is full."""
    return bool(_SERVER_FULL.search(text or ""))


def questdb_full(where: str, said: str, *, then: str = NOTHING_LOST) -> DiskFull:
    """QuestDB refused a write because its own disk is full; ``where`` names the server, ``said`` its words."""
    return DiskFull(f"QuestDB's disk is full ({where} refused a write: {said}): free space on the QuestDB "
                    f"server's disk (its root folder) and run again; {then}")


def catalog_full(exc: BaseException, *, then: str = NOTHING_LOST) -> DiskFull | None:
    """The catalog's database refused a write for want of space (SQLite: SQLITE_FULL; PostgreSQL: SQLSTATE
    53100), as a ``DiskFull`` naming it; None for any other database error."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if not (getattr(cause, "sqlite_errorcode", None) == SQLITE_FULL
            or getattr(cause, "sqlstate", None) == PG_DISK_FULL or server_says_full(str(exc))):
        return None
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return full("the catalog", settings["NAME"], then=then)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DiskFull(f"the catalog database {settings.get('NAME')} ({connection.vendor} at {settings.get('HOST')}:"
                    f"{settings.get('PORT')}) is out of disk space ({first}): free space on its server's disk and "
                    f"run again; {then}")
