"""ingest_sequential straight from Kraken's ZIP files, as a user runs it (manage.py in a subprocess, real
QuestDB and PostgreSQL): a complete zip and a quarterly update, filters leaving members pending, a run
killed in the middle of a zip, damaged downloads. The store always ends equal to the source."""

import os
import re
import select
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from feefifofunds.models import Asset, WrittenSpan, ZipMemberDone
from feefifofunds.store import client, kept
from tests.support.archive import candle_lines, csv_bytes, flip_byte, member_offset, write_file, write_zip
from tests.support.kept import assert_kept_matches_scan
from tests.support.store import count, parsed, stored

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]
HOUR = 3600
START = 1_700_006_400


def manage(env, *args, timeout=180):
    return subprocess.run([sys.executable, "manage.py", "ingest_sequential", *args], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def test_complete_zip_and_quarterly_update_straight_from_the_downloads(questdb, tmp_path, command_env):
    """The first import and an overlapping quarterly update (its members in a folder), beside a loose CSV."""
    data, ingested = tmp_path / "data", tmp_path / "ingested" / "ohlcv"
    master = candle_lines(60, 240)
    update = [line.replace(",200.0,", ",200.5,") for line in candle_lines(60, 300)[200:]]  # 40 h overlap
    complete = write_zip(data / "Kraken_OHLCVT.zip", {
        "XBTUSD_60.csv": master, "XBTUSD_1440.csv": candle_lines(1440, 10), "ETHUSD_60.csv": candle_lines(60, 24),
        "__MACOSX/._XBTUSD_60.csv": b"\x00\x05\x16\x07 mac junk"})
    quarterly = write_zip(data / "Kraken_OHLCVT_Q1_2026.zip", {
        "Kraken_OHLCVT_Q1_2026/XBTUSD_60.csv": update,
        "Kraken_OHLCVT_Q1_2026/ETHUSD_60.csv": csv_bytes(candle_lines(60, 30)[20:]).rstrip(b"\n")})  # no newline
    write_file(data / "ADAUSD_60.csv", candle_lines(60, 5))
    originals = {p.name: p.read_bytes() for p in (complete, quarterly)}
    proc = manage(command_env, "--data-dir", str(data), "--yes")
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    # Before the confirmation: per zip, its members by tier and interval, bytes and rows estimated.
    assert "Kraken_OHLCVT.zip: members to ingest" in out and "Kraken_OHLCVT_Q1_2026.zip: members to ingest" in out
    assert "Kraken_OHLCVT.zip: 3 members (1 junk entries (macOS) skipped); this run: 3 members, 13.8 KB " \
        "uncompressed, about " in out
    assert "TIER1" in out and "1440 min" in out
    # Each member as it is done, named zip:member; the update's values stay.
    assert "Kraken_OHLCVT_Q1_2026.zip:Kraken_OHLCVT_Q1_2026/ETHUSD_60.csv: ingested" in out
    assert stored("BTC") == parsed(master) | parsed(update) and stored("BTC")[START + 200 * HOUR][0] == 200.5
    assert len(stored("ETH")) == 30 and count() == 300 + 10 + 30 + 5
    assert "Kraken_OHLCVT_Q1_2026/XBTUSD_60.csv: ingested (100 rows, 1 stored candles changed)" in out
    # Both zips and the loose file moved, unchanged; nothing left in the data directory.
    assert {p.name: p.read_bytes() for p in ingested.glob("*.zip")} == originals
    assert (ingested / "ADAUSD_60.csv").exists() and not list(data.iterdir())
    assert "Zips" in out and f"Kraken_OHLCVT.zip: every member done, moved to {ingested / 'Kraken_OHLCVT.zip'}" in out
    # The same downloads again: recorded as done, nothing read, nothing added.
    for name, content in originals.items():
        (data / name).write_bytes(content)
    again = manage(command_env, "--data-dir", str(data), "--yes", "--verbosity", "0")
    assert again.returncode == 0, again.stdout + again.stderr
    [line] = again.stdout.strip().splitlines()
    assert line.startswith("ingest_sequential: 0 files ingested, 0 rows written") and "zips: 2 done" in line
    assert count() == 345 and not list(data.iterdir())


def test_data_dir_naming_one_zip_and_rescan(questdb, tmp_path, command_env):
    downloads = tmp_path / "downloads"
    zpath = write_zip(downloads / "Kraken_OHLCVT_Q1_2026.zip", {"XBTUSD_60.csv": candle_lines(60, 7)})
    other = write_zip(downloads / "other.zip", {"ETHUSD_60.csv": candle_lines(60, 3)})
    loose = write_file(downloads / "ADAUSD_60.csv", candle_lines(60, 4))
    content = zpath.read_bytes()
    proc = manage(command_env, "--data-dir", str(zpath), "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Data directory: {zpath}" in proc.stdout and count() == 7
    assert other.exists() and loose.exists()  # only the zip named
    archived = tmp_path / "ingested" / "ohlcv" / "Kraken_OHLCVT_Q1_2026.zip"  # beside the zip's folder
    assert archived.read_bytes() == content and not zpath.exists()
    assert not (tmp_path / ".downloads.staging").exists()
    # --rescan forgets the zip's record: put back, it is read whole again.
    zpath.write_bytes(content)
    proc = manage(command_env, "--data-dir", str(zpath), "--yes", "--rescan", zpath.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--rescan: forgot 1 member(s) of Kraken_OHLCVT_Q1_2026.zip" in proc.stdout
    assert "Kraken_OHLCVT_Q1_2026.zip:XBTUSD_60.csv: ingested (7 rows" in proc.stdout
    assert count() == 7 and not zpath.exists() and ZipMemberDone.objects.count() == 1


def test_tier_and_intervals_leave_members_pending_for_a_later_run(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    zpath = write_zip(data / "Kraken_OHLCVT.zip", {
        "XBTUSD_60.csv": candle_lines(60, 5), "XBTUSD_1440.csv": candle_lines(1440, 4),
        "PEPEUSD_60.csv": candle_lines(60, 6), "ETHUSD_15.csv": candle_lines(15, 8)})
    proc = manage(command_env, "--data-dir", str(data), "--yes", "--tier", "TIER1", "--intervals", "60,1440")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert count() == 9 and zpath.exists()
    assert "2 pending (not selected)" in proc.stdout
    assert "Kraken_OHLCVT.zip stays in the data directory: the next run takes its 2 members not done" in proc.stdout
    assert "--rescan Kraken_OHLCVT.zip" in proc.stdout
    proc = manage(command_env, "--data-dir", str(data), "--yes", "--intervals", "15")
    assert proc.returncode == 0 and count() == 17 and zpath.exists()
    proc = manage(command_env, "--data-dir", str(data), "--yes", "--verbosity", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [line] = proc.stdout.strip().splitlines()
    assert "1 files ingested, 6 rows written" in line and "zips: 1 done, 0 kept" in line
    assert count() == 23 and not zpath.exists()


def test_damaged_member_not_a_zip_and_a_cut_zip(questdb, tmp_path, command_env):
    """Each a clear error naming it; nothing of it stored; every other input ingested."""
    data = tmp_path / "data"
    lines = candle_lines(60, 40)
    good = write_zip(data / "Kraken_OHLCVT.zip", {"XBTUSD_60.csv": lines, "ETHUSD_60.csv": lines},
                     compression=zipfile.ZIP_STORED)
    flip_byte(good, "ETHUSD_60.csv", at=member_offset(good, "ETHUSD_60.csv", lines[-1].encode()) + 12)
    write_file(data / "Kraken_OHLCVT_Q2_2026.zip", ["<html>404 Not Found</html>"])
    cut = write_zip(data / "Kraken_OHLCVT_Q1_2026.zip", {"ADAUSD_60.csv": candle_lines(60, 500)})
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    write_file(data / "SOLUSD_60.csv", candle_lines(60, 3))
    proc = manage(command_env, "--data-dir", str(data), "--yes")
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 1, out + err
    assert f"{good}:ETHUSD_60.csv: damaged in the zip (Bad CRC-32" in out
    for bad in ("Kraken_OHLCVT_Q2_2026.zip", "Kraken_OHLCVT_Q1_2026.zip"):
        assert f"{data / bad}: not a readable zip" in err and "nothing was read from it" in err
    assert "1 file(s) failed" in err and "Traceback" not in err
    assert count() == 40 + 3 and not Asset.objects.filter(ticker__in=["ETH", "ADA"]).exists()
    assert good.exists() and "the next run takes its 1 members not done" in out
    assert list(ZipMemberDone.objects.values_list("member", flat=True)) == ["XBTUSD_60.csv"]


def test_killed_in_the_middle_of_a_zip_then_resumed(questdb, tmp_path, command_env):
    """SIGKILL while a zip's members are being committed; the rerun reads only the members not recorded."""
    data = tmp_path / "data"
    pairs = ["XBTUSD", "ETHUSD", "ADAUSD", "SOLUSD", "XRPUSD", "DOTUSD", "LINKUSD", "BATUSD", "XMRUSD", "LTCUSD"]
    members = {f"{pair}_1.csv": candle_lines(1, 20_000 + i * 1000, skip=set(range(0, 20_000, 7)))
               for i, pair in enumerate(pairs)}
    zpath = write_zip(data / "Kraken_OHLCVT.zip", members)
    env = dict(command_env, FEEFIFOFUNDS_FLUSH_ROWS="20000", FEEFIFOFUNDS_PART_ROWS="20000")
    proc = subprocess.Popen([sys.executable, "manage.py", "ingest_sequential", "--data-dir", str(data), "--yes"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ZipMemberDone.objects.exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done = set(ZipMemberDone.objects.values_list("member", flat=True))
    assert 0 < len(done) < len(pairs), "the kill should land in the middle of the zip"
    assert zpath.exists()
    assert WrittenSpan.objects.exists()  # the killed run's notes: what it may have written
    kept.catch_up("questdb")  # a reader (or the next run) applies them: nothing stored is missed
    assert_kept_matches_scan()
    rerun = manage(command_env, "--data-dir", str(data), "--yes")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    read = set(re.findall(r"^\[\d+/\d+\] Kraken_OHLCVT\.zip:(\S+): ingested", rerun.stdout, re.MULTILINE))
    assert read == set(members) - done  # no finished member is read again
    assert f"{len(done)} done before" in rerun.stdout
    assert count() == sum(len(v) for v in members.values())
    most = client.query("SELECT max(c) FROM (SELECT time, asset_id, count() c FROM assetprice "
                        "GROUP BY time, asset_id)")[0][0]
    assert most == 1
    assert stored("ETH", 1) == parsed(members["ETHUSD_1.csv"])
    assert_kept_matches_scan()
    assert not zpath.exists() and (tmp_path / "ingested" / "ohlcv" / "Kraken_OHLCVT.zip").exists()
    assert not (tmp_path / ".data.staging").exists()


def test_on_a_terminal_a_bar_per_zip_by_members_and_bytes(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    write_zip(data / "Kraken_OHLCVT.zip", {"XBTUSD_1.csv": candle_lines(1, 30_000),
                                           "ETHUSD_60.csv": candle_lines(60, 9)})
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "manage.py", "ingest_sequential", "--data-dir", str(data)],
                                cwd=REPO, env=dict(command_env, COLUMNS="160"), stdin=slave, stdout=slave,
                                stderr=subprocess.PIPE)
        os.write(master, b"y\n")
        out = b""
        while proc.poll() is None or select.select([master], [], [], 0.2)[0]:
            if select.select([master], [], [], 0.2)[0]:
                out += os.read(master, 65536)
        err = proc.stderr.read().decode()
    finally:
        os.close(master)
        os.close(slave)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))
    assert proc.returncode == 0, text + err
    assert "Proceed with ingesting 2 zip members? [y/N]:" in text
    assert "Kraken_OHLCVT.zip 2/2 members" in text and "Zips" in text
    assert count() == 30_009
