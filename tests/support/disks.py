"""Small real filesystems for the full-disk tests: a tmpfs of a given size mounted on a folder (the suite runs
as root, as CI does: ``mount`` needs it), grown again to "free space", and a filler file that takes what is
left on one."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"mount {' '.join(args)}: {proc.stderr.strip()} (the full-disk tests need root)"


@contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. "1m") on ``path`` for the block; unmounted afterwards, whatever happened."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:  # a file still open (a process the test started) keeps it busy: detach it then, never leak it
        if subprocess.run(["umount", str(path)], capture_output=True).returncode:
            subprocess.run(["umount", "--lazy", str(path)], check=True)


def grow(path: Path, size: str) -> None:
    """Free space: the tmpfs on ``path`` grows to ``size``, its files kept."""
    _mount("-o", f"remount,size={size}", str(path))


def fill(folder: Path, leave: int = 0) -> Path:
    """A filler file in ``folder`` that leaves at most ``leave`` bytes free on its filesystem (bounded: it
    writes what was free, then page by page until the filesystem refuses)."""
    filler = folder / "filler.bin"
    target = max(0, shutil.disk_usage(folder).free - leave)
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as fh:
        written = 0
        try:
            while written < target:
                written += fh.write(block[:min(len(block), target - written)])
            if leave == 0:
                for _ in range(len(block) // 4096 + 16):  # what rounding left, a page at a time
                    fh.write(block[:4096])
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    os.sync()
    return filler
