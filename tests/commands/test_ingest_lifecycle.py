"""The archive's real life, as a user runs it (manage.py in a subprocess, real QuestDB and PostgreSQL):
quarterly updates, concurrent runs, hostile files. Nothing wrong is ever stored."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from feefifofunds.ingestion.archive import job
from feefifofunds.models import Asset
from feefifofunds.store import client
from tests.support.archive import candle_lines, write_file
from tests.support.kept import assert_kept_matches_scan
from tests.support.store import count, parsed, stored

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]
HOUR = 3600
START = 1_700_006_400  # 2023-11-15 00:00 UTC, aligned to the hour


def manage(env, *args, timeout=180, **kw):
    return subprocess.run([sys.executable, "manage.py", "ingest_sequential", *args], cwd=REPO, env=env,
                          stdin=kw.pop("stdin", subprocess.DEVNULL), capture_output=True, text=True,
                          timeout=timeout, **kw)


def hours(first: int, last: int) -> list[str]:
    """Hourly candles from hour ``first`` to ``last`` (inclusive) after START, same values whatever the file."""
    return candle_lines(60, last + 1, start=START)[first:]


def changed(lines: list[str], t: int, close: float) -> list[str]:
    out = []
    for line in lines:
        fields = line.split(",")
        if int(fields[0]) == t:
            fields[4] = str(close)
        out.append(",".join(fields))
    return out


def test_quarterly_updates_end_to_end(questdb, tmp_path, command_env):
    """A complete archive, then two overlapping quarterly updates, then the same update again."""
    data, ingested = tmp_path / "data", tmp_path / "ingested" / "ohlcv"
    master = hours(0, 239)  # ten days
    update1 = changed(hours(168, 311), START + 200 * HOUR, 999.5)  # overlaps the archive by 3 days, 1 change
    update2 = changed(hours(288, 383), START + 300 * HOUR, 555.25)  # overlaps update1 by a day, 1 change
    write_file(data / "master_q4" / "XBTUSD_60.csv", master)
    write_file(data / "XBTUSD_60.csv", update1)
    originals = {"master": (data / "master_q4" / "XBTUSD_60.csv").read_bytes(),
                 "update1": (data / "XBTUSD_60.csv").read_bytes()}

    # 1. The complete archive and the first update in one run: the archive first, the update wins.
    first = manage(command_env, "--data-dir", str(data), "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    expected = parsed(master) | parsed(update1)
    assert stored() == expected and expected[START + 200 * HOUR][3] == 999.5
    assert "1 stored candles changed" in first.stdout.replace(",", "") or \
        "stored candles changed" in first.stdout
    assert (ingested / "master_q4" / "XBTUSD_60.csv").read_bytes() == originals["master"]
    assert (ingested / "XBTUSD_60.csv").read_bytes() == originals["update1"]
    assert_kept_matches_scan()  # every archive file's spans are kept

    # 2. The next quarter's file, same name at the root: the first update's original is kept.
    write_file(data / "XBTUSD_60.csv", update2)
    originals["update2"] = (data / "XBTUSD_60.csv").read_bytes()
    second = manage(command_env, "--data-dir", str(data), "--yes", "--verbosity", "0")
    assert second.returncode == 0, second.stdout + second.stderr
    [line] = second.stdout.strip().splitlines()
    assert "1 files ingested, 96 rows written, 1 stored candles changed, 0 failed" in line
    expected |= parsed(update2)
    assert stored() == expected and expected[START + 300 * HOUR][3] == 555.25
    assert (ingested / "XBTUSD_60.csv").read_bytes() == originals["update1"]
    [run_copy] = list(ingested.glob("run-*/XBTUSD_60.csv"))
    assert run_copy.read_bytes() == originals["update2"]
    assert_kept_matches_scan()

    # 3. The same update again: nothing changes in the store, the identical original is kept once.
    write_file(data / "XBTUSD_60.csv", update2)
    again = manage(command_env, "--data-dir", str(data), "--yes", "--verbosity", "0")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 stored candles changed" in again.stdout
    assert stored() == expected and count() == 384
    assert_kept_matches_scan()
    assert sorted(p.read_bytes() for p in ingested.rglob("*.csv")) == sorted(originals.values())
    assert not list(data.rglob("*.csv"))


def test_second_concurrent_run_refuses_with_exit_75(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 5))
    master, slave = os.openpty()
    try:  # the first run holds the locks while it waits for its confirmation
        first = subprocess.Popen([sys.executable, "manage.py", "ingest_sequential", "--data-dir", str(data)],
                                 cwd=REPO, env=command_env, stdin=slave, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        while "Ingested files move to" not in (line := first.stdout.readline()):  # flushed with the prompt
            assert line, first.stderr.read()
        second = manage(command_env, "--data-dir", str(data), "--yes")
        other_dir = tmp_path / "other"
        write_file(other_dir / "ETHUSD_60.csv", candle_lines(60, 5))
        same_store = manage(command_env, "--data-dir", str(other_dir), "--no-input")
        os.write(master, b"n\n")
        first.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    print(second.stderr)
    assert second.returncode == 75 and same_store.returncode == 75
    assert "not started" in second.stderr and "is in use by pid" in second.stderr
    assert "the price store" in same_store.stderr
    assert "Traceback" not in second.stderr + same_store.stderr
    assert count() == 0 and (data / "XBTUSD_60.csv").exists()


@pytest.mark.parametrize(("lines", "line_no", "reason"), [
    (["1700006400000,1,2,0.5,1,3,4", "1700010000000,1,2,0.5,1,3,4"], 1, "in milliseconds"),
    (["9300000000,1,2,0.5,1,3,4"], 1, "after the last finished 60-minute candle"),
    (["1300000000,1,2,0.5,1,3,4"], 1, "before 2013-01-01"),
    (["99999999999999999999,1,2,0.5,1,3,4"], 1, "larger than a 64-bit integer"),
    ([*candle_lines(60, 3), candle_lines(60, 3)[2].replace(",101.0,", ",101.5,")], 4,
     "timestamp 1700013600 repeats the timestamp of line 3"),
    ([*candle_lines(60, 3), candle_lines(60, 1)[0]], 4, "timestamp 1700006400 is earlier than line 3"),
], ids=["milliseconds", "after-2262", "before-2013", "int64-overflow", "duplicate", "out-of-order"])
def test_wrong_times_are_refused_and_nothing_is_stored(questdb, tmp_path, command_env, lines, line_no, reason):
    data = tmp_path / "data"
    bad = write_file(data / "XBTUSD_60.csv", lines)
    proc = manage(command_env, "--data-dir", str(data), "--yes")
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 1 and "1 file(s) failed" in proc.stderr
    assert f"{bad}, line {line_no}: " in proc.stdout and reason in proc.stdout
    assert "Traceback" not in proc.stderr
    assert count() == 0 and bad.exists() and not Asset.objects.exists()


def test_truncated_last_line_stores_nothing(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    bad = data / "XBTUSD_60.csv"
    write_file(bad, candle_lines(60, 101))
    bad.write_bytes(bad.read_bytes()[:-1])  # the last line lost its newline
    good = write_file(data / "ETHUSD_60.csv", candle_lines(60, 7))
    proc = manage(command_env, "--data-dir", str(data), "--yes")
    assert proc.returncode == 1
    assert f"{bad}, line 101: the last line has no newline: the file may be truncated" in proc.stdout
    assert "only needs its newline" in proc.stdout
    assert count() == 7 and bad.exists() and not good.exists()
    assert list(Asset.objects.values_list("ticker", flat=True)) == ["ETH"]


def test_non_ascii_digits_and_symlinks_are_skipped(questdb, tmp_path, command_env):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    write_file(data / "XBTUSD_٦٠.csv", candle_lines(60, 3))
    target = write_file(elsewhere / "ETHUSD_60.csv", candle_lines(60, 3))
    (data / "ETHUSD_60.csv").symlink_to(target)
    proc = manage(command_env, "--data-dir", str(data), "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "skipped XBTUSD_٦٠.csv: file name is not PAIR_MINUTES.csv" in proc.stdout
    assert "skipped ETHUSD_60.csv: symbolic link" in proc.stdout
    assert count() == 0 and (data / "ETHUSD_60.csv").is_symlink() and target.exists()


def test_unreadable_file_fails_alone(questdb, tmp_path, command_env):
    """A file the user running the job cannot read: a clear message, every other file ingested."""
    data = tmp_path / "data"
    secret = write_file(data / "ETHUSD_60.csv", candle_lines(60, 4))
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 5))
    os.chmod(secret, 0)
    cmd = [sys.executable, "manage.py", "ingest_sequential", "--data-dir", str(data), "--yes"]
    if os.geteuid() == 0:  # root reads anything unless it gives up the capability to override modes
        cmd = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
               "--bounding-set=-dac_override,-dac_read_search", *cmd]
    proc = subprocess.run(cmd, cwd=REPO, env=command_env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=180)
    os.chmod(secret, 0o644)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{secret}: cannot read: Permission denied" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert count() == 5 and secret.exists() and not (data / "XBTUSD_60.csv").exists()


def test_sql_unreachable_at_the_start_is_a_message_and_nothing_changes(questdb, tmp_path, command_env):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 5))
    assert manage(command_env, "--data-dir", str(data), "--yes").returncode == 0
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 8))
    # ILP/HTTP answers, SQL (PGWire) does not: the check of the store's catalog cannot run.
    proc = manage(dict(command_env, QUESTDB_PG_PORT="1"), "--data-dir", str(data), "--yes")
    assert proc.returncode == 1
    assert "cannot connect" in proc.stderr and "pgwire 1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert count() == 5 and (data / "XBTUSD_60.csv").exists()


def test_query_error_during_the_run_is_a_message_and_the_summary_is_printed(questdb, tmp_path, command_env,
                                                                           monkeypatch):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 5))
    assert manage(command_env, "--data-dir", str(data), "--yes").returncode == 0
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 8))

    def unreachable(*args, **kwargs):
        raise client.QuestDBError("cannot connect to QuestDB alias 'questdb': connection refused")

    monkeypatch.setattr(job, "stored_candles", unreachable)  # SQL stops answering once the run has started
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("ingest_sequential", "--data-dir", str(data), "--yes", stdout=out)
    assert "Summary" in out.getvalue() and "run stopped" in out.getvalue()
    assert "the run stopped: reading stored candles" in str(raised.value) and "cannot connect" in str(raised.value)
    assert count() == 5 and (data / "XBTUSD_60.csv").exists()


def test_tier_filter_uses_the_catalog(questdb, tmp_path, command_env):
    Asset.objects.create(ticker="LINK", name="Chainlink", category="CRYPTO", tier="TIER1")
    data = tmp_path / "data"
    write_file(data / "LINKUSD_60.csv", candle_lines(60, 4))
    write_file(data / "BATUSD_60.csv", candle_lines(60, 4))
    proc = manage(command_env, "--data-dir", str(data), "--tier", "TIER1", "--noinput")
    assert proc.returncode == 0, proc.stderr
    assert not (data / "LINKUSD_60.csv").exists() and (data / "BATUSD_60.csv").exists()
    assert count() == 4
