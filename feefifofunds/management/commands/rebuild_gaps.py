"""Build the kept coverage and gaps of a price store from its prices: the first build of a store that has
prices, and the repair. The work is ``feefifofunds.store.kept.rebuild``; this command shows its progress."""

import time

import psycopg
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.console import check_binding, locked, make_console
from feefifofunds.gcpause import paused_gc
from feefifofunds.store import kept
from feefifofunds.store.client import QuestDBError
from feefifofunds.store.config import DEFAULT_ALIAS


class Command(BaseCommand):
    help = ("Build the store's kept coverage and gap runs from its prices (one pass per chunk of assets; "
            "resumable: a stopped build goes on where it stopped). Every write keeps them up to date afterwards.")

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")

    def handle(self, *args, database, **options):
        console = make_console(self.stdout, options["verbosity"])
        check_binding(database)
        started = time.monotonic()
        with locked(database, command="rebuild_gaps"):
            progress = Progress(TextColumn("kept gaps"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[series]:,} series, {task.fields[runs]:,} gap runs"),
                                TimeElapsedColumn(), console=console, transient=False)
            task = progress.add_task("build", total=None, series=0, runs=0)

            def step(done: kept.BuildProgress) -> None:
                progress.update(task, total=done.chunks, completed=done.chunk, series=done.series, runs=done.runs)

            try:
                with progress, paused_gc():  # a chunk's gap runs: hundreds of thousands of tuples
                    done = kept.rebuild(database, progress=step)
            except (QuestDBError, psycopg.Error) as exc:
                raise CommandError(f"rebuild_gaps: QuestDB: {str(exc).strip()} (run it again: it goes on where "
                                   "it stopped)") from None
            except DatabaseError as exc:
                raise CommandError(f"rebuild_gaps: the catalog: {exc} (run it again: it goes on where it "
                                   "stopped)") from None
        console.print(f"Kept gaps built: {done.series:,} series, {done.runs:,} gap runs, in "
                      f"{time.monotonic() - started:.1f} s")
