"""Moving done originals to the ingested folder: never over an archived file, many at once."""

from pathlib import Path

import pytest

from feefifofunds.ingestion.archive import archiving
from feefifofunds.ingestion.archive.archiving import archive_many, archive_original


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
