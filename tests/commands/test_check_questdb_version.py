import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from feefifofunds.store import server

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("check_questdb_version", *args, stdout=out)
    return out.getvalue()


def test_reports_the_real_server_version():
    out = run()
    assert f"📊 QuestDB Version: {server.QUESTDB_VERSION}" in out
    assert "✅ DEDUP support: YES (7.3+ required)" in out
    assert "python manage.py migrate feefifofunds 0003 --fake" in out
    assert out.splitlines()[1] == "─" * 60


def test_database_option_picks_the_alias():
    assert server.QUESTDB_VERSION in run("--database", "custom_questdb")


def test_unknown_alias():
    with pytest.raises(CommandError, match="unknown QuestDB alias 'nope'"):
        run("--database", "nope")


def test_unreachable_server_is_a_clear_error():
    with pytest.raises(CommandError, match="cannot connect to QuestDB alias 'unreachable'"):
        run("--database", "unreachable")


def test_unreachable_server_exit_code_without_traceback(command_env):
    env = dict(command_env, QUESTDB_PG_PORT="1", QUESTDB_HTTP_PORT="1")
    proc = subprocess.run([sys.executable, "manage.py", "check_questdb_version"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "cannot connect to QuestDB" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
