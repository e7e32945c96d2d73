import argparse
from io import StringIO

import pytest
from django.core.management.base import CommandError, OutputWrapper

from feefifofunds.cli.console import add_confirm_arguments, confirm, locked, make_console, summary
from feefifofunds.store.lock import LOCKED_EXIT_CODE, store_lock


class Terminal(StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("flag", ["--yes", "-y", "--no-input", "--noinput"])
def test_every_spelling_of_yes(flag):
    parser = argparse.ArgumentParser()
    add_confirm_arguments(parser)
    assert parser.parse_args([flag]).yes is True
    assert parser.parse_args([]).yes is False


def test_confirm():
    out = StringIO()
    assert confirm("go? ", yes=True, stdin=StringIO(""), refusal="x") is True
    assert confirm("go? ", yes=False, stdin=Terminal("y\n"), stdout=out, refusal="x") is True
    assert confirm("go? ", yes=False, stdin=Terminal("no\n"), stdout=out, refusal="x") is False
    assert out.getvalue() == "go? go? "
    with pytest.raises(CommandError, match="refusing to do it: no terminal to ask on. Pass --yes"):
        confirm("go? ", yes=False, stdin=StringIO("y\n"), refusal="refusing to do it")


def test_quiet_console_prints_only_the_summary():
    raw = StringIO()
    stream = OutputWrapper(raw)
    console = make_console(stream, verbosity=0)
    console.print("a report")
    summary(console, stream, "1 thing done")
    assert raw.getvalue() == "1 thing done\n"
    loud = make_console(stream, verbosity=1)
    loud.print("a report", end="")
    summary(loud, stream, "not again")
    assert raw.getvalue() == "1 thing done\na report"  # no newline added by Django's wrapper


def test_locked_unknown_alias_is_a_command_error(settings):
    with pytest.raises(CommandError, match="unknown QuestDB alias 'nope'"):
        with locked("nope"):
            pass


def test_locked_busy_is_a_command_error_with_exit_75(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEFIFOFUNDS_LOCK_DIR", str(tmp_path / "locks"))
    with store_lock("questdb"):
        with pytest.raises(CommandError, match="^ingest_sequential: not started: the price store") as caught:
            with locked("questdb", command="ingest_sequential"):
                pass
    assert caught.value.returncode == LOCKED_EXIT_CODE == 75
