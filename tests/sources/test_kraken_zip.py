import random
import shutil
import zipfile
from pathlib import Path

import pytest

from feefifofunds.sources.kraken_archive import MalformedFile
from feefifofunds.sources.kraken_zip import ZipReader, list_zip
from tests.support.archive import candle_lines, csv_bytes, flip_byte, set_method, write_zip


def read_all(stream, n: int) -> bytes:
    return b"".join(iter(lambda: stream.read(n), b""))


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2])
def test_members_read_whole_whatever_the_block_size(tmp_path: Path, compression):
    rng = random.Random(7)
    members = {f"Q1/P{i}USD_1.csv": csv_bytes(candle_lines(1, rng.randint(1, 3000))) for i in range(5)}
    members["Q1/EMPTYUSD_1.csv"] = b""
    listing = list_zip(write_zip(tmp_path / "k.zip", members, compression=compression), tmp_path)
    reader = ZipReader(listing.path, listing.infos)
    try:
        for f in listing.members:
            for n in (7, 4096, 1 << 24):
                with reader.open(f) as stream:
                    assert read_all(stream, n) == members[f.member], (f.member, n)
    finally:
        reader.close()
    assert sorted(f.member for f in listing.members) == sorted(members)
    assert {f.label for f in listing.members} == {f"{tmp_path / 'k.zip'}:{m}" for m in members}


def test_the_identity_is_the_same_for_a_copy_and_differs_for_another_release(tmp_path: Path):
    first = write_zip(tmp_path / "a" / "Kraken_OHLCVT.zip", {"XBTUSD_60.csv": candle_lines(60, 10)})
    copy = Path(shutil.copy(first, tmp_path / "Kraken_OHLCVT.zip"))
    other = write_zip(tmp_path / "b" / "Kraken_OHLCVT.zip", {"XBTUSD_60.csv": candle_lines(60, 11)})
    ids = [list_zip(p, p.parent).identity for p in (first, copy, other)]
    assert ids[0] == ids[1] and ids[0] != ids[2] and ids[0].name == ids[2].name == "Kraken_OHLCVT.zip"


def test_a_damaged_member_fails_at_its_end_naming_it(tmp_path: Path):
    zpath = write_zip(tmp_path / "k.zip", {"XBTUSD_60.csv": candle_lines(60, 400)}, compression=zipfile.ZIP_STORED)
    flip_byte(zpath, "XBTUSD_60.csv")
    listing = list_zip(zpath, tmp_path)
    reader = ZipReader(listing.path, listing.infos)
    with reader.open(listing.members[0]) as stream:
        assert stream.read(1000)  # the start reads fine: only the end can tell
        with pytest.raises(MalformedFile, match=r"k.zip:XBTUSD_60.csv: damaged in the zip \(Bad CRC-32"):
            read_all(stream, 1000)
    reader.close()


def test_a_method_python_cannot_inflate_is_named(tmp_path: Path):
    zpath = write_zip(tmp_path / "k.zip", {"XBTUSD_60.csv": candle_lines(60, 4)}, compression=zipfile.ZIP_STORED)
    set_method(zpath, "XBTUSD_60.csv", 9)
    listing = list_zip(zpath, tmp_path)
    reader = ZipReader(listing.path, listing.infos)
    with pytest.raises(MalformedFile, match=r"k.zip:XBTUSD_60.csv: compressed with Deflate64 \(method 9\)"):
        with reader.open(listing.members[0]):
            pass
    reader.close()
