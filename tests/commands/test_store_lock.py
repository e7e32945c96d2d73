"""Price-writing commands take the store lock once; a second writer is refused with exit 75 and who holds it."""

from __future__ import annotations

import subprocess
import sys

import pytest

HOLD = """
import django, time
django.setup()
from feefifofunds.store import lock
with lock.store_lock("questdb"):
    print("held", flush=True)
    time.sleep(120)
"""

COMMANDS = {
    "load_prices": ["load_prices", "--ticker", "BTC", "--source", "massive"],
    "backfill_prices": ["backfill_prices", "--all", "--source", "finnhub", "--days", "3"],
    "backfill_kraken_gaps": ["backfill_kraken_gaps", "--yes"],
}


@pytest.fixture
def holder(command_env, tmp_path):
    env = {**command_env, "FEEFIFOFUNDS_LOCK_DIR": str(tmp_path / "locks")}
    proc = subprocess.Popen([sys.executable, "-c", HOLD], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield env, proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_busy_store_exits_75_naming_the_holder(holder, name):
    env, pid = holder
    proc = subprocess.run([sys.executable, "manage.py", *COMMANDS[name]], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 75, proc.stderr
    assert f"in use by pid {pid}" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""  # refused before any work


def test_reports_and_dry_runs_do_not_need_the_lock(holder, questdb):
    """On an empty store whose kept gaps are built (the ``questdb`` fixture): a dry run has gaps to read."""
    env, _ = holder
    proc = subprocess.run([sys.executable, "manage.py", "backfill_kraken_gaps", "--dry-run", "-v", "0"], env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("nothing backfilled") and len(proc.stdout.splitlines()) == 1
