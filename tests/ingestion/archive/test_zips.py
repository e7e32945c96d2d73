"""Zips as archive input (the job on real QuestDB and PostgreSQL): members read as streams, recorded per
store once committed, damaged members failing alone, the zip moving once every member is done."""

import shutil
import zipfile
from pathlib import Path

import pytest

from feefifofunds.ingestion.archive import ingest, outcome, select
from feefifofunds.models import Asset, ZipMemberDone
from feefifofunds.sources.kraken_zip import UnreadableZip, list_zip
from tests.support.archive import (
    candle_lines,
    csv_bytes,
    flip_byte,
    member_offset,
    set_method,
    write_file,
    write_zip,
)
from tests.support.store import count, parsed, stored

pytestmark = pytest.mark.django_db
STORE = "127.0.0.1:1"  # bookkeeping key only: the rows go to the test QuestDB whatever it says


def run(data: Path, store: str = STORE, **kw):
    sel = select(data, store=store, ingested_dir=data.parent / "ingested" / "ohlcv", **kw)
    try:
        summary = ingest(sel.inputs, staging_dir=data.parent / ".staging")
    finally:
        sel.close()
    return sel, summary


def test_complete_zip_then_a_quarterly_zip_with_a_folder_the_update_wins(questdb, tmp_path):
    data = tmp_path / "data"
    master = candle_lines(60, 240)
    update = [line.replace(",200.0,", ",200.5,") for line in candle_lines(60, 300)[200:]]  # overlaps, 1 change
    write_zip(data / "Kraken_OHLCVT.zip", {"XBTUSD_60.csv": master, "ETHUSD_1440.csv": candle_lines(1440, 20)})
    write_zip(data / "Kraken_OHLCVT_Q1_2026.zip", {"Kraken_OHLCVT_Q1_2026/XBTUSD_60.csv": update})
    sel, summary = run(data)
    assert summary.ok and [r.file.label for r in summary.results] == [
        f"{data / 'Kraken_OHLCVT.zip'}:ETHUSD_1440.csv", f"{data / 'Kraken_OHLCVT.zip'}:XBTUSD_60.csv",
        f"{data / 'Kraken_OHLCVT_Q1_2026.zip'}:Kraken_OHLCVT_Q1_2026/XBTUSD_60.csv"]
    assert summary.changed == 1 and stored("BTC") == parsed(master) | parsed(update)
    assert stored("BTC")[1_700_006_400 + 200 * 3600][0] == 200.5 and len(stored("ETH", 1440)) == 20
    ingested = tmp_path / "ingested" / "ohlcv"
    assert not list(data.iterdir()) and sorted(p.name for p in ingested.iterdir()) == [
        "Kraken_OHLCVT.zip", "Kraken_OHLCVT_Q1_2026.zip"]
    assert ZipMemberDone.objects.filter(store=STORE).count() == 3
    assert [(o.members, o.done, o.failed, o.pending, o.kept) for o in (outcome(z, summary) for z in sel.zips)] == [
        (2, 2, 0, 0, False), (1, 1, 0, 0, False)]


def test_a_member_without_final_newline_is_accepted_a_damaged_one_fails_alone(questdb, tmp_path):
    data = tmp_path / "data"
    lines = candle_lines(60, 50)
    zpath = write_zip(data / "k.zip", {"XBTUSD_60.csv": csv_bytes(lines).rstrip(b"\n"),
                                       "ETHUSD_60.csv": lines, "ADAUSD_60.csv": lines},
                      compression=zipfile.ZIP_STORED)
    # A digit changed in the last line: the CSV still parses, only the CRC-32 at the member's end tells.
    flip_byte(zpath, "ETHUSD_60.csv", at=member_offset(zpath, "ETHUSD_60.csv", lines[-1].encode()) + 12)
    sel, summary = run(data)
    assert sorted((r.file.pair, r.status) for r in summary.results) == [
        ("ADAUSD", "ingested"), ("ETHUSD", "failed"), ("XBTUSD", "ingested")]
    [failed] = summary.failed
    assert failed.error.startswith(f"{zpath}:ETHUSD_60.csv: damaged in the zip (Bad CRC-32")
    assert stored("BTC") == parsed(lines) and count() == 100
    assert not Asset.objects.filter(ticker="ETH").exists()
    assert zpath.exists()  # a failed member keeps the zip in place
    o = outcome(sel.zips[0], summary)
    assert (o.members, o.done, o.failed, o.pending, o.kept) == (3, 2, 1, 0, True)
    # The next run reads the failed member only (the others are recorded as done).
    sel, again = run(data)
    assert [r.file.member for r in again.results] == ["ETHUSD_60.csv"] and again.failed and count() == 100


def test_a_compression_python_cannot_read_fails_alone(questdb, tmp_path):
    data = tmp_path / "data"
    zpath = write_zip(data / "k.zip", {"XBTUSD_60.csv": candle_lines(60, 5), "ETHUSD_60.csv": candle_lines(60, 5)},
                      compression=zipfile.ZIP_STORED)
    set_method(zpath, "ETHUSD_60.csv", 9)
    _, summary = run(data)
    [failed] = summary.failed
    assert f"{zpath}:ETHUSD_60.csv: compressed with Deflate64 (method 9)" in failed.error
    assert "cannot inflate" in failed.error and count() == 5 and zpath.exists()


def test_damaged_deflate_data_fails_alone(questdb, tmp_path):
    data = tmp_path / "data"
    zpath = write_zip(data / "k.zip", {"XBTUSD_1.csv": candle_lines(1, 5000), "ETHUSD_60.csv": candle_lines(60, 5)})
    flip_byte(zpath, "XBTUSD_1.csv")
    _, summary = run(data)
    [failed] = summary.failed
    # Whether inflating fails or the garbage makes a bad line first, the CRC-32 is what the user is told.
    assert failed.error.startswith(f"{zpath}:XBTUSD_1.csv: damaged in the zip (") and count() == 5
    assert not Asset.objects.filter(ticker="BTC").exists()


@pytest.mark.parametrize("how", ["not-a-zip", "cut-short"])
def test_a_file_that_is_no_whole_zip_is_one_clear_error(questdb, tmp_path, how):
    data = tmp_path / "data"
    bad = data / "Kraken_OHLCVT.zip"
    if how == "not-a-zip":
        write_file(bad, ["<html>Not found</html>"])
    else:
        write_zip(bad, {"XBTUSD_60.csv": candle_lines(60, 500)})
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size * 2 // 3])  # a partial download
    with pytest.raises(UnreadableZip, match=f"{bad}: not a readable zip .*cut short as by a partial download"):
        list_zip(bad, data)
    write_file(data / "ETHUSD_60.csv", candle_lines(60, 4))
    sel, summary = run(data)
    assert [s.path for s in sel.unreadable] == [bad] and summary.ok and summary.rows == 4
    assert count() == 4 and bad.exists() and not ZipMemberDone.objects.exists()


def test_junk_and_unknown_names_are_skipped_and_the_zip_still_moves(questdb, tmp_path):
    data = tmp_path / "data"
    write_zip(data / "k.zip", {"master_q4/XBTUSD_60.csv": candle_lines(60, 5), "__MACOSX/master_q4/._XBTUSD_60.csv":
                               b"\x00\x05\x16\x07junk", "._ETHUSD_60.csv": b"junk", "FOOBAR_60.csv": b"1,2\n",
                               "master_q4/": b"", "README.txt": b"hello", "XBTUSD_60.csv": b""})
    sel, summary = run(data)
    [z] = sel.zips
    assert (z.listing.junk, [(s.member, s.reason.split()[0]) for s in z.listing.skipped]) == (
        2, [("FOOBAR_60.csv", "cannot")])
    assert sorted((r.file.member, r.status) for r in summary.results) == [("XBTUSD_60.csv", "empty"),
                                                                          ("master_q4/XBTUSD_60.csv", "ingested")]
    assert count() == 5 and not (data / "k.zip").exists() and (tmp_path / "ingested" / "ohlcv" / "k.zip").exists()


def test_done_members_are_per_store_and_a_finished_zip_adds_nothing(questdb, tmp_path):
    data = tmp_path / "data"
    zpath = write_zip(data / "k.zip", {"XBTUSD_60.csv": candle_lines(60, 5), "ETHUSD_60.csv": candle_lines(60, 6)})
    copy = shutil.copy(zpath, tmp_path / "k.zip")
    run(data)
    shutil.copy(copy, zpath)  # the same download again
    sel, summary = run(data)
    assert not sel.inputs and not summary.results and not zpath.exists()  # an identical copy is archived
    assert sel.zips[0].note.startswith("an identical copy is in the ingested folder")
    shutil.copy(copy, zpath)
    sel, summary = run(data, store="elsewhere:9000")  # another store holds nothing of it
    assert len(summary.by_status("ingested")) == 2 and count() == 11


def test_a_bad_line_early_in_a_large_member_fails_it_alone(questdb, tmp_path):
    data = tmp_path / "data"
    lines = candle_lines(1, 20_000)
    lines[3] = lines[3].split(",")[0] + ",1,0.5,2,1,3,4"  # high below low, early in a member read in blocks
    write_zip(data / "k.zip", {"XBTUSD_1.csv": lines, "ETHUSD_1.csv": candle_lines(1, 300)})
    sel = select(data, store=STORE, ingested_dir=tmp_path / "ingested")
    try:
        summary = ingest(sel.inputs, staging_dir=tmp_path / ".staging", chunk_bytes=4096)
    finally:
        sel.close()
    assert "k.zip:XBTUSD_1.csv, line 4: high < low" in summary.failed[0].error and count() == 300


def test_members_acknowledged_together_are_recorded_in_one_insert(questdb, tmp_path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    data = tmp_path / "data"
    members = {f"P{i}USD_60.csv": candle_lines(60, 30) for i in range(6)}
    write_zip(data / "Kraken_OHLCVT.zip", members)
    with CaptureQueriesContext(connection) as catalog:
        sel, summary = run(data)
    assert summary.ok and len(summary.by_status("ingested")) == 6
    inserts = [q for q in catalog.captured_queries if 'INSERT INTO "feefifofunds_zipmemberdone"' in q["sql"]]
    assert len(inserts) == 1  # one statement for the six (run for each, in one call)
    assert set(ZipMemberDone.objects.filter(store=STORE).values_list("member", flat=True)) == set(members)
    assert (tmp_path / "ingested" / "ohlcv" / "Kraken_OHLCVT.zip").exists()
