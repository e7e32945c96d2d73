"""One writer at a time: OS-level locks on the price store and on an archive data directory.

Every command that writes prices (archive ingest, backfills, API loaders, QuestDB migrations) takes the
store lock for its alias; the archive ingest also takes the lock of its data directory. The locks are
``flock`` locks on small files in one folder shared by every checkout on the machine
(``FEEFIFOFUNDS_LOCK_DIR``, default ``<tmp>/feefifofunds-locks``), keyed on what they protect (the store's
host and HTTP port, the data directory's resolved path), so two checkouts writing to one QuestDB exclude
each other too. The kernel releases a lock when its process dies: a killed run never leaves a stale lock.

A second run refuses at once (no waiting): a cron job that finds the previous run still busy exits with
``LOCKED_EXIT_CODE`` and tries again at its next slot.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

# EX_TEMPFAIL from sysexits.h: "try again later". Distinct from 1 (a failed run) and 2 (bad arguments).
LOCKED_EXIT_CODE = 75


class LockBusy(RuntimeError):
    """Another process holds the lock; the message names it and what it is doing."""

    exit_code = LOCKED_EXIT_CODE


def lock_dir() -> Path:
    return Path(os.environ.get("FEEFIFOFUNDS_LOCK_DIR") or Path(tempfile.gettempdir()) / "feefifofunds-locks")


def _slug(text: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in text)[:60]
    return f"{safe}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("since", 0)))
    return f"pid {info.get('pid', '?')} ({info.get('command', '?')}, running since {started})"


@contextmanager
def _flock(name: str, what: str) -> Iterator[None]:
    directory = lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_slug(name)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"{what} is in use by {_holder(path)}; try again when it has finished "
                           f"(lock file {path})") from None
        command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv[:3]))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command, "since": time.time()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def store_lock(alias: str) -> AbstractContextManager[None]:
    """Exclusive right to write prices to the QuestDB server behind ``alias`` (keyed on host:http_port)."""
    from .client import get_config

    store = get_config(alias).store_id
    return _flock(f"store-{store}", f"the price store {store}")


def data_dir_lock(data_dir: Path) -> AbstractContextManager[None]:
    """Exclusive right to ingest from (and move files out of) one archive data directory."""
    resolved = str(Path(data_dir).resolve())
    return _flock(f"data-{resolved}", f"the data directory {resolved}")


@contextmanager
def writing(alias: str, data_dir: Path | None = None) -> Iterator[None]:
    """Both locks a price-writing run needs, taken in a fixed order (data directory first)."""
    with ExitStack() as stack:
        if data_dir is not None:
            stack.enter_context(data_dir_lock(data_dir))
        stack.enter_context(store_lock(alias))
        yield
