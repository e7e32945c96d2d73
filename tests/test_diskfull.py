"""Which errors mean a full disk, and the sentences that say so (QuestDB's words as its 9.3.4 server gives them)."""

import errno
import os
from pathlib import Path

from feefifofunds import diskfull
from tests.support.disks import small_disk


def test_full_and_over_quota_are_full_disks_and_other_errors_are_not():
    assert diskfull.is_full(OSError(errno.ENOSPC, "No space left on device"))
    assert diskfull.is_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not diskfull.is_full(OSError(errno.EACCES, "Permission denied"))
    assert not diskfull.is_full(ValueError("28"))
    assert not diskfull.is_full(None)


def test_the_message_names_the_folder_its_filesystem_and_what_to_do(tmp_path):
    with small_disk(tmp_path / "disk", "1m") as disk:
        folder = disk / "staging" / "run-1"  # not made yet: its filesystem is still found
        assert diskfull.filesystem(folder) == disk
        exc = diskfull.full("the staging folder", folder, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        assert str(exc) == (f"the staging folder {folder} (filesystem {disk}, 1.0 MiB) is full: free space there "
                            "and run again; nothing committed is lost")
        quota = diskfull.full("the ingested folder", disk, OSError(errno.EDQUOT, "Disk quota exceeded"),
                              then="nothing was done")
        assert str(quota).endswith("is over its disk quota: free space there (or raise the quota) and run again; "
                                   "nothing was done")
        assert isinstance(exc, diskfull.DiskFull) and not isinstance(exc, OSError)
    assert diskfull.filesystem(Path("/")) == Path("/")


def test_questdbs_words_for_a_full_disk():
    for said in ("[28] No space left [size=6291456, fd=599147938212]",  # a refused INSERT from read_parquet
                 "io.questdb.cairo.CairoException: [28] No space left [size=16777216, fd=938450354661]",  # WAL apply
                 'Could not flush buffer: {"code":"internal error","message":"failed to parse line protocol:errors '
                 'encountered on line(s):write error: assetprice, errno: 28, error: No space left [size=1048576]"}',
                 "DISK FULL: could not allocate"):  # the error tag of a suspended table
        assert diskfull.server_says_full(said), said
    for said in ("bulk update failed and will be rolled back", "Cannot suspend table, database is not in dev mode",
                 "io: Connection reset by peer (os error 104)", ""):
        assert not diskfull.server_says_full(said), said
    message = str(diskfull.questdb_full("QuestDB alias 'questdb' at 127.0.0.1", "[28] No space left"))
    assert message == ("QuestDB's disk is full (QuestDB alias 'questdb' at 127.0.0.1 refused a write: [28] No space "
                       "left): free space on the QuestDB server's disk (its root folder) and run again; nothing "
                       "committed is lost")


def test_a_database_error_that_is_no_full_disk_is_not_one():
    import sqlite3

    assert diskfull.catalog_full(sqlite3.OperationalError("database is locked")) is None
