"""What every management command shares for talking to its user: the console, the prompt, the store lock.

- ``make_console(stream, verbosity)``: a rich console on the command's stdout; plain fixed-width text when it
  is not a terminal; silent at ``--verbosity 0`` (cron: errors go to stderr through ``CommandError``, and the
  command prints its one-line summary with ``summary``, which prints only then).
- ``add_confirm_arguments(parser)`` and ``confirm(...)``: ``--yes`` (with Django's ``--no-input`` /
  ``--noinput`` as synonyms) skips the question; without a terminal and without ``--yes`` the command refuses
  rather than guessing an answer.
- ``locked(alias)``: the store lock for a price-writing command, taken once at command level; a busy lock
  is a ``CommandError`` naming who holds it, with exit code ``LOCKED_EXIT_CODE`` (75, "try again later")
  instead of a failure's 1. Inside the lock the kept coverage and gaps (``store.kept``) are brought up to
  date: when it is taken (what a killed run noted) and when it is left (what this run wrote), whatever the
  run's outcome.
- ``check_binding(alias)``: the store belongs to this catalog (``feefifofunds.store.binding``), checked once
  by every command that reads or writes prices; another catalog's store is a ``CommandError`` (exit code 1).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TextIO

import psycopg
from django.core.management.base import CommandError
from django.db import DatabaseError
from rich.console import Console

from feefifofunds.diskfull import full, is_full, questdb_full, server_says_full
from feefifofunds.store import binding, kept
from feefifofunds.store.client import QuestDBError, get_config
from feefifofunds.store.lock import LOCKED_EXIT_CODE, LockBusy, lock_dir, writing


class _Plain:
    """Django's ``OutputWrapper`` adds a newline to every write; rich writes whole lines itself."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def _plain(stream) -> IO[str]:
    return _Plain(stream) if hasattr(stream, "style_func") else stream  # an OutputWrapper


def make_console(stream, verbosity: int = 1) -> Console:
    """A console on ``stream`` (a command's ``self.stdout`` or any text stream); quiet at verbosity 0."""
    out = _plain(stream)
    isatty = out.isatty() if hasattr(out, "isatty") else False
    return Console(file=out, width=None if isatty else 120, highlight=False, emoji=False, soft_wrap=True,
                   quiet=verbosity == 0)


def summary(console: Console, stream, text: str) -> None:
    """The command's one-line summary, for ``--verbosity 0`` only (the full output already says it)."""
    if console.quiet:
        _plain(stream).write(text + "\n")


def add_confirm_arguments(parser) -> None:
    parser.add_argument("--yes", "-y", "--no-input", "--noinput", action="store_true", dest="yes",
                        help="Do not ask for confirmation (--no-input/--noinput: the same, Django's spelling)")


def confirm(question: str, *, yes: bool, stdin: TextIO | None = None, stdout=None, refusal: str) -> bool:
    """True to go ahead: ``--yes`` given, or the user answered y/yes on a terminal; False for any other answer.

    Without a terminal to ask on (cron, a pipe) and without ``--yes`` the command must not guess: a
    ``CommandError`` saying ``refusal`` and that ``--yes`` goes ahead.
    """
    if yes:
        return True
    stream = stdin if stdin is not None else sys.stdin
    if stream is None or not stream.isatty():
        raise CommandError(f"{refusal}: no terminal to ask on. Pass --yes (or --no-input) to go ahead.")
    out = _plain(stdout) if stdout is not None else sys.stdout
    out.write(question)
    out.flush()
    return stream.readline().strip().lower() in ("y", "yes")


@contextmanager
def locked(alias: str, *, data_dir: Path | None = None, command: str = "") -> Iterator[None]:
    """Hold the store lock of ``alias`` (and the lock of ``data_dir`` when given) for the block; busy: a
    ``CommandError`` naming the holder, exit code 75."""
    with ExitStack() as stack:
        try:
            stack.enter_context(writing(alias, data_dir))
        except QuestDBError as exc:  # an unknown alias
            raise CommandError(str(exc)) from None
        except LockBusy as exc:
            prefix = f"{command}: not started: " if command else ""
            raise CommandError(f"{prefix}{exc}", returncode=LOCKED_EXIT_CODE) from None
        except OSError as exc:  # the lock file cannot be written: nothing was started
            if is_full(exc):
                raise CommandError(str(full("the lock folder", lock_dir(), exc, then="nothing was done"))) from None
            raise CommandError(f"cannot take the lock in {lock_dir()}: {exc.strerror or exc}") from None
        _keep(kept.prepare, alias)
        try:
            yield
        finally:
            _keep(kept.apply_notes, alias)


def _keep(step, alias: str) -> None:
    """Bring the kept state up to date; a failure is told on stderr and never hides the run's own outcome
    (the notes stay, and the next writing run, or ``rebuild_gaps``, applies them)."""
    try:
        step(alias)
    except (QuestDBError, psycopg.Error, DatabaseError) as exc:
        sys.stderr.write(f"kept gaps and coverage of {alias!r} not brought up to date: {str(exc).strip()} "
                         "(the next writing run, or `manage.py rebuild_gaps`, does it)\n")


def check_binding(alias: str) -> None:
    """Go on only with a store that belongs to this catalog (one never bound is adopted); else a CommandError
    whose message names both catalogs and the ways out."""
    try:
        binding.check(alias)
    except (binding.BindingMismatch, QuestDBError) as exc:
        raise CommandError(str(exc)) from None
    except psycopg.Error as exc:
        said = str(exc).strip()
        if server_says_full(said):  # the binding record is the first thing written to the store
            raise CommandError(str(questdb_full(f"QuestDB alias {alias!r} at {get_config(alias).describe()}",
                                                said.splitlines()[0], then="nothing was done"))) from None
        raise CommandError(f"QuestDB refused the check of which catalog the store {alias!r} belongs to: "
                           f"{said}") from None
    except DatabaseError as exc:
        raise CommandError(f"reading the catalog's identity (has `manage.py migrate` run?): {exc}") from None
