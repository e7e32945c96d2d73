"""The store and data-directory locks exclude a second process and vanish with the first."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.core.management.base import CommandError

from feefifofunds.store import lock, schema

HOLD = """
import sys, time
from pathlib import Path
from django.core.management.base import CommandError

from feefifofunds.store import lock, schema
with lock.data_dir_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def lock_dir(tmp_path, monkeypatch):
    d = tmp_path / "locks"
    monkeypatch.setenv("FEEFIFOFUNDS_LOCK_DIR", str(d))
    return d


def test_second_holder_is_refused_with_the_first_named(tmp_path, lock_dir):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(lock.LockBusy) as caught:
            with lock.data_dir_lock(tmp_path):
                pass
        assert f"pid {proc.pid}" in str(caught.value)
        assert str(tmp_path.resolve()) in str(caught.value)
        assert caught.value.exit_code == lock.LOCKED_EXIT_CODE
    finally:
        proc.kill()
        proc.wait()
    # The kernel released the dead process's lock: no stale lock.
    deadline = time.monotonic() + 5
    with lock.data_dir_lock(tmp_path):
        assert time.monotonic() < deadline


def test_same_process_can_take_and_release_repeatedly(tmp_path, lock_dir):
    for _ in range(3):
        with lock.data_dir_lock(tmp_path):
            pass


def test_different_keys_do_not_block_each_other(tmp_path, lock_dir):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with lock.data_dir_lock(tmp_path / "a"), lock.data_dir_lock(tmp_path / "b"):
        pass


def test_a_migration_step_on_a_busy_store_is_a_command_error_with_exit_75(lock_dir):
    with lock.store_lock("questdb"):
        with pytest.raises(CommandError, match="the price store .* is in use by pid") as caught:
            schema.for_migration(lambda alias: None)("questdb")
    assert caught.value.returncode == lock.LOCKED_EXIT_CODE
