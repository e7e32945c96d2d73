import io
from pathlib import Path

import pytest

from feefifofunds.sources.kraken_archive import (
    ArchiveName,
    MalformedFile,
    check_file,
    discover,
    first_time,
    has_data,
    is_junk,
    iter_chunks,
    parse_name,
    read_file,
    split_pair,
)
from tests.support.archive import candle_lines, copy_real_samples, write_file


@pytest.mark.parametrize(("pair", "expected"), [
    ("XBTUSD", ("BTC", "USD")), ("XBTUSDT", ("BTC", "USDT")), ("ETHXBT", ("ETH", "BTC")),
    ("XDGEUR", ("DOGE", "EUR")), ("1INCHEUR", ("1INCH", "EUR")), ("USDTUSD", ("USDT", "USD")),
    ("ETHDAI", ("ETH", "DAI")), ("DOTUSDC", ("DOT", "USDC")), ("FOO", None), ("USD", None),
])
def test_split_pair(pair, expected):
    assert split_pair(pair) == expected


def test_discovery_filters_and_skips(tmp_path: Path):
    write_file(tmp_path / "master_q4" / "XBTUSD_60.csv", candle_lines(60, 3))
    write_file(tmp_path / "XBTEUR_1440.csv", candle_lines(1440, 3))
    write_file(tmp_path / "BATUSD_5.csv", candle_lines(5, 3))
    write_file(tmp_path / "__MACOSX" / "._XBTUSD_60.csv", ["junk"])
    write_file(tmp_path / "._ETHUSD_60.csv", ["junk"])
    write_file(tmp_path / "XBTUSD.csv", ["1,2,3"])  # trades archive: ignored
    write_file(tmp_path / "notes.txt", ["hello"])
    write_file(tmp_path / "FOOBAR_60.csv", candle_lines(60, 1))
    write_file(tmp_path / "XBTUSD_7.csv", candle_lines(60, 1))
    found = discover(tmp_path)
    assert [(f.base, f.quote, f.interval_minutes, str(f.relative)) for f in found.files] == [
        ("BAT", "USD", 5, "BATUSD_5.csv"), ("BTC", "EUR", 1440, "XBTEUR_1440.csv"),
        ("BTC", "USD", 60, "master_q4/XBTUSD_60.csv")]
    assert sorted((s.path.name, s.reason.split(" ")[0]) for s in found.skipped) == [
        ("FOOBAR_60.csv", "cannot"), ("XBTUSD_7.csv", "unknown")]
    assert [f.pair for f in discover(tmp_path, intervals={60, 1440}).files] == ["XBTEUR", "XBTUSD"]


def test_real_sample_parses_exactly(tmp_path: Path):
    path = copy_real_samples(tmp_path)[2]
    assert path.name == "XBTUSD_1440.csv"
    df = read_file(path, 1440)
    lines = path.read_text().splitlines()
    assert df.height == len(lines)
    first = lines[0].split(",")
    assert df.row(0) == (int(first[0]), *map(float, first[1:6]), int(first[6]))


@pytest.mark.parametrize(("line", "reason"), [
    ("1700006400,1,2,0.5,1", "expected 7 columns, found 5"),
    ("1700006400,1,2,0.5,1,3,4,5", "expected 7 columns, found 8"),
    ("1700006400,1,abc,0.5,1,3,4", "high is not a number"),
    ("1700006401,1,2,0.5,1,3,4", "not aligned to the 60-minute interval"),
    ("1700006400,1,0.5,2,1,3,4", "high < low"),
    ("1700006400,-1,2,0.5,1,3,4", "negative price"),
    ("1700006400,1,2,0.5,1,-3,4", "negative volume"),
])
def test_malformed_line_is_reported_with_file_and_line(tmp_path: Path, line, reason):
    good = candle_lines(60, 5, start=1_690_000_000)
    path = write_file(tmp_path / "XBTUSD_60.csv", [*good[:3], line, *good[3:]])
    with pytest.raises(MalformedFile) as err:
        read_file(path, 60)
    assert err.value.line == 4 and reason in err.value.reason
    assert str(path) in str(err.value)


def test_chunks_cover_every_line_with_bounded_size(tmp_path: Path):
    lines = candle_lines(1, 5000)
    path = write_file(tmp_path / "XBTUSD_1.csv", lines)
    chunks = list(iter_chunks(path, chunk_bytes=4096))
    assert len(chunks) > 10
    assert sum(df.height for _, df, _ in chunks) == 5000
    assert sum(nbytes for *_, nbytes in chunks) == path.stat().st_size
    first_line, df, _ = chunks[3]
    assert df.row(0)[0] == int(lines[first_line - 1].split(",")[0])


def test_whole_file_checks_cross_chunk_boundaries(tmp_path: Path):
    lines = candle_lines(1, 3000)
    lines[2000] = lines[1999]  # the same candle twice: refused too (a repeated time is never guessed at)
    path = write_file(tmp_path / "XBTUSD_1.csv", lines)
    for chunk_bytes in (1024, 4096, 1 << 20):
        with pytest.raises(MalformedFile) as err:
            check_file(path, 1, chunk_bytes=chunk_bytes)
        assert err.value.line == 2001 and "repeats the timestamp of line 2000" in err.value.reason


def test_checked_file_keeps_small_files_only(tmp_path: Path):
    path = write_file(tmp_path / "XBTUSD_60.csv", candle_lines(60, 50))
    small = check_file(path, 60)
    assert small.rows == 50 and sum(f.height for f in small.frames) == 50
    assert (small.first_time, small.last_time) == (1_700_006_400, 1_700_006_400 + 49 * 3600)
    assert check_file(path, 60, chunk_bytes=512, keep_bytes=512).frames is None


def test_a_candle_that_has_not_finished_is_refused(tmp_path: Path):
    lines = candle_lines(60, 3)
    path = write_file(tmp_path / "XBTUSD_60.csv", lines)
    last_start = int(lines[-1].split(",")[0])
    assert check_file(path, 60, now=last_start + 3600).rows == 3
    with pytest.raises(MalformedFile, match="line 3: timestamp .* after the last finished 60-minute candle"):
        check_file(path, 60, now=last_start + 3599)


def test_small_truncated_file_is_refused_before_any_chunk_is_used(tmp_path: Path):
    path = write_file(tmp_path / "XBTUSD_60.csv", candle_lines(60, 101))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(MalformedFile) as err:
        check_file(path, 60)
    assert err.value.line == 101 and "only needs its newline" in err.value.reason


def test_symbolic_links_are_skipped_but_a_linked_data_directory_is_fine(tmp_path: Path):
    real = tmp_path / "real"
    write_file(real / "XBTUSD_60.csv", candle_lines(60, 3))
    write_file(tmp_path / "outside" / "ETHUSD_60.csv", candle_lines(60, 3))
    (real / "ETHUSD_60.csv").symlink_to(tmp_path / "outside" / "ETHUSD_60.csv")
    (real / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    found = discover(tmp_path / "alias")
    assert [f.pair for f in found.files] == ["XBTUSD"]
    assert sorted(str(s.path.relative_to(tmp_path / "alias")) for s in found.skipped
                  if s.reason.startswith("symbolic link")) in (["ETHUSD_60.csv"],
                                                               ["ETHUSD_60.csv", "linked/ETHUSD_60.csv"])
    write_file(real / "XBTUSD_٦٠.csv", candle_lines(60, 3))
    assert [s.reason for s in discover(real).skipped if "٦" in s.path.name] == ["file name is not PAIR_MINUTES.csv"]


def test_a_stream_is_read_like_a_file_and_named_by_its_label():
    text = "".join(line + "\n" for line in candle_lines(60, 300))
    stream = io.BytesIO(text.encode())
    chunks = list(iter_chunks(stream, chunk_bytes=1024, label="Kraken_OHLCVT.zip:XBTUSD_60.csv"))
    assert sum(df.height for _, df, _ in chunks) == 300 and sum(n for *_, n in chunks) == len(text)
    assert first_time(io.BytesIO(text.encode())) == 1_700_006_400
    assert has_data(io.BytesIO(b" \n")) is False and has_data(io.BytesIO(text.encode())) is True
    bad = text.replace(",101.0,", ",x,", 1)
    with pytest.raises(MalformedFile, match=r"^Kraken_OHLCVT.zip:XBTUSD_60.csv, line 3: open is not a number"):
        list(iter_chunks(io.BytesIO(bad.encode()), label="Kraken_OHLCVT.zip:XBTUSD_60.csv"))


def test_a_last_line_without_newline_is_a_line_only_in_a_stream_proved_whole():
    data = "".join(line + "\n" for line in candle_lines(60, 5)).rstrip("\n").encode()
    chunks = list(iter_chunks(io.BytesIO(data), chunk_bytes=64, label="z.zip:XBTUSD_60.csv", whole=True))
    assert sum(df.height for _, df, _ in chunks) == 5 and sum(n for *_, n in chunks) == len(data)
    with pytest.raises(MalformedFile, match="z.zip:XBTUSD_60.csv, line 5: the last line has no newline"):
        list(iter_chunks(io.BytesIO(data), label="z.zip:XBTUSD_60.csv"))


@pytest.mark.parametrize(("name", "expected"), [
    ("XBTUSD_60.csv", ArchiveName("XBTUSD", "BTC", "USD", 60)),
    ("XBTUSD_7.csv", "unknown interval 7"), ("FOOBAR_60.csv", "cannot split pair"),
    ("XBTUSD_٦٠.csv", "file name is not PAIR_MINUTES.csv"), ("XBTUSD.csv", None), ("notes.csv", None),
])
def test_parse_name(name, expected):
    got = parse_name(name)
    assert got == expected if not isinstance(expected, str) else got.startswith(expected)


def test_junk_entries_of_a_mac():
    assert is_junk(("__MACOSX", "._XBTUSD_60.csv")) and is_junk(("._XBTUSD_60.csv",))
    assert is_junk(("__MACOSX", "master_q4", "XBTUSD_60.csv")) and not is_junk(("master_q4", "XBTUSD_60.csv"))
