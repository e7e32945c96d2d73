"""Archiving done originals: into an ingested folder on another filesystem, one that fills up."""

import pytest

from feefifofunds.diskfull import DiskFull
from feefifofunds.ingestion.archive.archiving import archive_original
from tests.support.disks import grow, small_disk


def test_a_full_ingested_folder_leaves_the_original_and_no_partial_copy(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    original = data / "XBTUSD_60.csv"
    content = b"1700006400,1,2,0.5,1,3,4\n" * 20_000  # ~500 KB
    original.write_bytes(content)
    with small_disk(tmp_path / "ingested", "128k") as ingested:  # another filesystem: the move is a copy
        with pytest.raises(DiskFull) as raised:
            archive_original(original, original.relative_to(data), ingested / "ohlcv", "run-1", fsync=False)
        assert str(raised.value).startswith(f"the ingested folder {ingested / 'ohlcv'} (filesystem {ingested}, "
                                            "128.0 KiB) is full: free space there and run again")
        assert original.read_bytes() == content and not list(ingested.rglob("*.csv"))

        grow(ingested, "4m")
        moved = archive_original(original, original.relative_to(data), ingested / "ohlcv", "run-1", fsync=True)
        assert moved == ingested / "ohlcv" / "XBTUSD_60.csv" and moved.read_bytes() == content
        assert not original.exists()
