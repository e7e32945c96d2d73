"""Ingest Kraken's OHLCVT archive (its ZIP files as downloaded, or CSV files) into QuestDB: the main job.

The work is ``feefifofunds.ingestion.archive``; what it prints is ``feefifofunds.cli.archive``.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from rich.console import Console

from feefifofunds.cli.archive import (
    RichEvents,
    render_failed,
    render_header,
    render_nothing_to_ingest,
    render_resumed,
    render_selection,
    render_summary,
)
from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.console import add_confirm_arguments, check_binding, confirm, locked, make_console
from feefifofunds.ingestion.archive import (
    RunSummary,
    default_ingested_dir,
    default_staging_dir,
    forget_zip,
    fsync_default,
    ingest,
    outcome,
    select,
)
from feefifofunds.store import schema
from feefifofunds.store.client import QuestDBError, get_config, resume_suspended
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.tiers import TIER_CHOICES
from feefifofunds.timeframes import INTERVALS


def parse_intervals(raw: str | None) -> set[int] | None:
    if not raw:
        return None
    try:
        values = {int(v) for v in raw.split(",") if v.strip()}
    except ValueError:
        raise CommandError(f"--intervals {raw!r}: expected comma-separated minutes, e.g. 60,1440") from None
    unknown = sorted(values - set(INTERVALS))
    if unknown or not values:
        raise CommandError(f"--intervals {raw!r}: unknown interval(s) {unknown}; "
                           f"the archive has {', '.join(map(str, INTERVALS))}")
    return values


class Command(BaseCommand):
    help = ("Ingest Kraken OHLCVT ZIP and CSV files into QuestDB (through its Parquet reader, or ILP over HTTP): a "
            "CSV file moves once its rows are committed, a zip once every member is (members done are recorded: a "
            "rerun resumes).")

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--tier", default="ALL", type=str.upper, choices=[*TIER_CHOICES, "ALL"],
                            help="Asset tier to ingest (TIER1/TIER2/TIER3/TIER4/ALL); an asset already in the "
                                 "catalog has the catalog's tier. Default: ALL")
        parser.add_argument("--intervals", help="Comma-separated intervals in minutes, e.g. 60,1440")
        add_confirm_arguments(parser)
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")
        parser.add_argument("--data-dir", type=Path, help="Data directory, or one ZIP file (its folder is then the "
                                                          "data directory) (default: settings.KRAKEN_DATA_DIR)")
        parser.add_argument("--rescan", metavar="ZIP", help="Forget which members of this zip (a path or a file "
                                                            "name) the store holds, so this run reads it whole")
        parser.add_argument("--stop-on-error", action="store_true", help="Stop at the first file that fails")
        parser.add_argument("--fsync", action="store_true", default=None,
                            help="fsync each archived file and its folders (survives a power loss; "
                                 "also FEEFIFOFUNDS_FSYNC=1)")

    def handle(self, *args, tier, intervals, yes, database, data_dir, stop_on_error, fsync, rescan, verbosity,
               **options):
        console = make_console(self.stdout)  # the one line at --verbosity 0 is printed by run()
        quiet = verbosity == 0
        intervals_set = parse_intervals(intervals)
        data_dir = Path(data_dir or settings.KRAKEN_DATA_DIR)
        only_zip = None
        if data_dir.is_file() and data_dir.suffix.lower() == ".zip":
            only_zip, data_dir = data_dir, data_dir.parent  # its folder's lock, staging and ingested folder
        elif not data_dir.is_dir():
            raise CommandError(f"--data-dir {data_dir}: not a directory (nor a .zip file)")
        try:
            # One run at a time per store and per data directory.
            with locked(database, data_dir=data_dir, command="ingest_sequential"):
                check_binding(database)
                # A table QuestDB suspended (its disk was full, say) holds acknowledged rows in its WAL.
                render_resumed(console, schema.TABLE, resume_suspended(schema.TABLE, database))
                summary = self.run(console, quiet=quiet, tier=tier, intervals=intervals,
                                   intervals_set=intervals_set, yes=yes, database=database, data_dir=data_dir,
                                   only_zip=only_zip, rescan=rescan, stop_on_error=stop_on_error,
                                   fsync=fsync_default() if fsync is None else fsync)
        except QuestDBError as exc:
            raise CommandError(str(exc)) from None
        if summary is None:
            return
        render_failed(console, summary)
        if summary.error:
            raise CommandError(f"the run stopped: {summary.error}")
        problems = []
        if summary.failed:
            stop = " (stopped at the first error)" if summary.stopped_early else ""
            problems.append(f"{len(summary.failed)} file(s) failed{stop}")
        problems += [f"{s.path}: {s.reason}" for s in summary.unreadable]
        if problems:
            raise CommandError("; ".join(problems))

    def run(self, console: Console, *, quiet, tier, intervals, intervals_set, yes, database, data_dir, only_zip,
            rescan, stop_on_error, fsync) -> RunSummary | None:
        store = get_config(database).store_id
        ingested_dir = Path(settings.KRAKEN_INGESTED_DIR) if settings.KRAKEN_INGESTED_DIR \
            else default_ingested_dir(data_dir)
        try:
            if rescan:
                forgotten = forget_zip(store, Path(rescan).name)
                if not quiet:
                    console.print(f"--rescan: forgot {forgotten:,} member(s) of {Path(rescan).name} recorded as "
                                  f"held by the store {store}")
            sel = select(data_dir, store=store, ingested_dir=ingested_dir, only_zip=only_zip, tier=tier,
                         intervals=intervals_set, fsync=fsync)
        except OSError as exc:
            raise CommandError(f"cannot list the data directory {data_dir}: {exc.strerror or exc} "
                               f"({exc.filename or data_dir})") from None
        except DatabaseError as exc:
            raise CommandError(f"reading the catalog (asset tiers, zip members done): {exc}") from None
        files, members = sel.files, sel.members
        if not quiet:
            render_header(console, sel, data_dir=data_dir, shown_dir=only_zip or data_dir, tier=tier,
                          intervals=intervals, database=database)
        if not files and not members:
            summary = RunSummary(skipped=sel.skipped, unreadable=sel.unreadable)
            render_nothing_to_ingest(console, summary, [outcome(z, summary) for z in sel.zips], quiet=quiet)
            return summary if sel.unreadable else None
        if not quiet:
            render_selection(console, sel, ingested_dir=ingested_dir)
        what = ", ".join(([f"{len(files):,} files"] if files else []) +
                         ([f"{len(members):,} zip members"] if members else []))
        if not confirm(f"Proceed with ingesting {what}? [y/N]: ", yes=yes, stdout=self.stdout,
                       refusal=f"refusing to ingest {what} without confirmation"):
            raise CommandError("aborted: nothing was ingested")

        todo = files + members
        events = RichEvents(console, sum(f.size for f in todo), len(todo), quiet=quiet,
                            zips={z.listing.path: (len(z.files), sum(f.size for f in z.files))
                                  for z in sel.zips if z.files})
        try:
            with events.progress:
                summary = ingest(sel.inputs, alias=database, staging_dir=default_staging_dir(data_dir),
                                 stop_on_error=stop_on_error, events=events)
        finally:
            sel.close()
        summary.skipped, summary.unreadable = sel.skipped, sel.unreadable
        render_summary(console, summary, [outcome(z, summary) for z in sel.zips], quiet=quiet)
        return summary
