"""ingest_sequential as a user runs it: real processes, real QuestDB and PostgreSQL."""

import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from feefifofunds.models import Asset
from feefifofunds.store import client
from tests.support.archive import candle_lines, copy_real_samples, write_file
from tests.support.kept import assert_kept_matches_scan

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def manage(env, *args, stdin=subprocess.DEVNULL, timeout=120):
    return subprocess.run([sys.executable, "manage.py", "ingest_sequential", *args], cwd=REPO, env=env,
                          stdin=stdin, capture_output=True, text=True, timeout=timeout)


def count() -> int:
    client.wait_for_wal("assetprice")
    return client.query("SELECT count() FROM assetprice")[0][0]


def test_yes_runs_and_reports(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    copy_real_samples(data)
    write_file(data / "XBTUSD_60.csv", [])
    write_file(data / "WHATEVER_60.csv", candle_lines(60, 2))
    proc = manage(command_env, "--data-dir", str(data), "--yes")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Files found" in out and "TIER1" in out and "1440 min" in out and "about" in out
    assert "skipped WHATEVER_60.csv: cannot split pair" in out
    assert "XBTUSD_60.csv: empty, deleted" in out
    for label in ("files ingested", "empty files deleted", "files failed", "files skipped", "rows written",
                  "rows per second", "elapsed"):
        assert label in out
    assert count() == 1200
    assert "Traceback" not in proc.stderr
    # The real Kraken files' gaps, kept as the job wrote them, are the ones a full scan finds, gap by gap.
    _, runs = assert_kept_matches_scan()
    assert runs


def test_no_terminal_without_yes_refuses(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    copy_real_samples(data)
    proc = manage(command_env, "--data-dir", str(data))
    assert proc.returncode == 1
    assert "no terminal to ask on. Pass --yes" in proc.stderr and "Traceback" not in proc.stderr
    assert count() == 0 and len(list(data.glob("*.csv"))) == 4


@pytest.mark.parametrize(("answer", "rc", "rows"), [("y\n", 0, 1200), ("n\n", 1, 0)])
def test_prompt_on_a_terminal(questdb, tmp_path, command_env, answer, rc, rows):
    data = tmp_path / "data"
    copy_real_samples(data)
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "manage.py", "ingest_sequential", "--data-dir", str(data)],
                                cwd=REPO, env=command_env, stdin=slave, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        os.write(master, answer.encode())
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == rc, err
    assert "Proceed with ingesting 4 files? [y/N]:" in out
    assert count() == rows
    if rc:
        assert "aborted" in err


def test_stop_on_error_and_exit_codes(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    write_file(data / "AAAUSD_60.csv", candle_lines(60, 3)[:2] + ["1700013600,1,2,3"])
    write_file(data / "BBBUSD_60.csv", candle_lines(60, 3))
    stop = manage(command_env, "--data-dir", str(data), "--yes", "--stop-on-error")
    assert stop.returncode == 1 and "stopped at the first error" in stop.stderr
    assert "AAAUSD_60.csv, line 3: expected 7 columns, found 4" in stop.stdout
    assert (data / "BBBUSD_60.csv").exists() and count() == 0
    go_on = manage(command_env, "--data-dir", str(data), "--yes")
    assert go_on.returncode == 1 and "1 file(s) failed" in go_on.stderr
    assert not (data / "BBBUSD_60.csv").exists() and count() == 3


def test_bad_arguments_are_clear(questdb, tmp_path):
    with pytest.raises(CommandError, match="--intervals '60,7'"):
        call_command("ingest_sequential", "--data-dir", str(tmp_path), "--intervals", "60,7", "--yes")
    with pytest.raises(CommandError, match="--data-dir .*nope: not a directory"):
        call_command("ingest_sequential", "--data-dir", str(tmp_path / "nope"), "--yes")
    with pytest.raises(CommandError, match="unknown QuestDB alias"):
        write_file(tmp_path / "XBTUSD_60.csv", candle_lines(60, 2))
        call_command("ingest_sequential", "--data-dir", str(tmp_path), "--yes", "--database", "nope",
                     stdout=StringIO())


def test_tier_and_intervals_options(questdb, tmp_path):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 4))
    write_file(data / "XBTUSD_1440.csv", candle_lines(1440, 4))
    write_file(data / "LINKUSD_60.csv", candle_lines(60, 4))
    out = StringIO()
    call_command("ingest_sequential", "--data-dir", str(data), "--tier", "tier1", "--intervals", "60,1440",
                 "--yes", stdout=out)
    assert count() == 8 and (data / "LINKUSD_60.csv").exists()
    assert list(Asset.objects.values_list("ticker", flat=True)) == ["BTC"]


@pytest.mark.parametrize("write_path", ["parquet", "ilp"])
def test_killed_run_then_rerun_ends_with_exactly_the_source_data(questdb, tmp_path, command_env, write_path):
    """SIGKILL in the middle of the job, run again: nothing missing, nothing duplicated, no import file left."""
    data = tmp_path / "data"
    expected = 0
    pairs = ["XBTUSD", "ETHUSD", "ADAUSD", "SOLUSD", "XRPUSD", "DOTUSD", "LINKUSD", "BATUSD", "XMRUSD", "LTCUSD",
             "UNIUSD", "ATOMUSD"]
    for i, pair in enumerate(pairs):
        lines = candle_lines(1, 30_000 + i * 1000, skip=set(range(0, 30_000, 7)))
        write_file(data / f"{pair}_1.csv", lines)
        expected += len(lines)
    snapshot = {p.name: p.read_text() for p in data.glob("*.csv")}
    # Small flushes, so files are acknowledged (and moved) one after another while the job runs.
    import_dir = Path(command_env["QUESTDB_IMPORT_DIR"])
    base = dict(command_env, QUESTDB_IMPORT_DIR="" if write_path == "ilp" else str(import_dir))  # "": no folder
    env = dict(base, FEEFIFOFUNDS_FLUSH_ROWS="20000", FEEFIFOFUNDS_PARQUET_ROWS="20000")
    proc = subprocess.Popen([sys.executable, "manage.py", "ingest_sequential", "--data-dir", str(data), "--yes"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ingested = tmp_path / "ingested" / "ohlcv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(ingested.glob("*.csv")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    moved = {p.name for p in ingested.glob("*.csv")}
    assert 0 < len(moved) < len(pairs), "the kill should land in the middle of the run"
    rerun = manage(base, "--data-dir", str(data), "--yes")
    assert rerun.returncode == 0, rerun.stderr
    assert ("Write path: Parquet" if write_path == "parquet" else "Write path: ILP over HTTP") in rerun.stdout
    assert count() == expected
    assert not list(import_dir.glob("fff-*"))
    assert {p.name: p.read_text() for p in ingested.glob("*.csv")} == snapshot
    assert not (tmp_path / ".data.staging").exists()  # the killed run's scratch copy is gone too
    most = client.query("SELECT max(c) FROM (SELECT time, asset_id, count() c FROM assetprice "
                        "GROUP BY time, asset_id)")[0][0]
    assert most == 1
    assert_kept_matches_scan()  # the killed run's notes and the rerun's: nothing stale
