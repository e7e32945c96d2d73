"""Moving done originals to the ingested folder: never over an archived file, many at once, into an ingested
folder on another filesystem, one that fills up."""

from pathlib import Path

import pytest

from feefifofunds.diskfull import DiskFull
from feefifofunds.ingestion.archive import archiving
from feefifofunds.ingestion.archive.archiving import archive_many, archive_original
from tests.support.disks import grow, small_disk


def put(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("fsync", [False, True])
def test_many_files_move_at_once_each_with_its_own_outcome(tmp_path, fsync, monkeypatch):
    data, ingested = tmp_path / "data", tmp_path / "ingested"
    put(ingested / "XBTUSD_60.csv", "archived earlier\n")
    put(ingested / "run-20260101T000000Z" / "ETHUSD_60.csv", "same\n")
    put(ingested / "ETHUSD_60.csv", "another quarter\n")
    files = [put(data / "ADAUSD_60.csv", "new\n"), put(data / "XBTUSD_60.csv", "this quarter\n"),
             put(data / "ETHUSD_60.csv", "same\n"), data / "SOLUSD_60.csv", put(data / "q1" / "DOTUSD_1.csv", "q1\n")]
    synced = []
    real = archiving.fsync_path
    monkeypatch.setattr(archiving, "fsync_path", lambda path: (synced.append(path), real(path)))
    outcomes = archive_many([(p, p.relative_to(data)) for p in files], ingested, "run-20260202T000000Z", fsync=fsync)
    assert outcomes[:3] == [ingested / "ADAUSD_60.csv", ingested / "run-20260202T000000Z" / "XBTUSD_60.csv", None]
    assert isinstance(outcomes[3], FileNotFoundError) and outcomes[4] == ingested / "q1" / "DOTUSD_1.csv"
    assert not any(p.exists() for p in files) and (ingested / "run-20260202T000000Z" / "XBTUSD_60.csv").read_text() \
        == "this quarter\n"
    assert (ingested / "XBTUSD_60.csv").read_text() == "archived earlier\n"  # never overwritten
    folders = [p for p in synced if p.is_dir()]
    expected = {data, data / "q1", ingested, ingested / "q1", ingested / "run-20260202T000000Z"} if fsync else set()
    assert sorted(folders) == sorted(expected)  # each folder synced once, whatever the number of files in it
    moved = [o for o in outcomes if isinstance(o, Path)]
    assert sorted(p for p in synced if not p.is_dir()) == (sorted(moved) if fsync else [])


def test_one_file_alone_as_before(tmp_path):
    data, ingested = tmp_path / "data", tmp_path / "ingested"
    put(ingested / "XBTUSD_60.csv", "x\n")
    moved = archive_original(put(data / "XBTUSD_60.csv", "x\n"), Path("XBTUSD_60.csv"), ingested, "run-1", fsync=True)
    assert moved is None and not (data / "XBTUSD_60.csv").exists()  # identical to the archived one: kept once


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


def test_many_files_into_a_folder_that_fills_up_stop_at_the_first_that_does_not_fit(tmp_path):
    data = tmp_path / "data"
    files = [put(data / f"P{i}USD_60.csv", "1700006400,1,2,0.5,1,3,4\n" * 2_000) for i in range(4)]  # ~50 KB each
    with small_disk(tmp_path / "ingested", "128k") as ingested:  # another filesystem: each move is a copy
        outcomes = archive_many([(p, p.relative_to(data)) for p in files], ingested, "run-1", fsync=True)
        assert [type(o).__name__ for o in outcomes] == ["PosixPath", "PosixPath", "DiskFull"]  # the 4th not tried
        assert str(outcomes[-1]).startswith(f"the ingested folder {ingested} (filesystem {ingested}")
        assert [p.exists() for p in files] == [False, False, True, True]
        assert sorted(p.name for p in ingested.iterdir()) == ["P0USD_60.csv", "P1USD_60.csv"]  # no partial copy


def test_copies_found_in_earlier_run_folders_by_content_not_by_size(tmp_path):
    data, ingested = tmp_path / "data", tmp_path / "ingested"
    put(ingested / "XBTUSD_60.csv", "first\n")
    put(ingested / "run-1" / "XBTUSD_60.csv", "again\n")  # the same size as the new ETH file below
    put(ingested / "ETHUSD_60.csv", "first\n")
    put(ingested / "run-1" / "ETHUSD_60.csv", "other\n")
    files = [put(data / "XBTUSD_60.csv", "again\n"), put(data / "ETHUSD_60.csv", "newer\n"),
             put(data / "ADAUSD_60.csv", "first\n")]
    outcomes = archive_many([(p, p.relative_to(data)) for p in files], ingested, "run-2", fsync=False)
    assert outcomes == [None, ingested / "run-2" / "ETHUSD_60.csv", ingested / "ADAUSD_60.csv"]
    assert (ingested / "run-2" / "ETHUSD_60.csv").read_text() == "newer\n" and not any(p.exists() for p in files)
    assert (ingested / "run-1" / "ETHUSD_60.csv").read_text() == "other\n"
