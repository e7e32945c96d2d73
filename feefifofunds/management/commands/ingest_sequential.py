"""Ingest Kraken's OHLCVT archive (CSV files) into QuestDB: the main job.

The work is ``feefifofunds.ingestion.archive``; what it prints is ``feefifofunds.cli.archive``.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from rich.console import Console

from feefifofunds.catalog import asset_tiers
from feefifofunds.cli.archive import (
    RichEvents,
    render_failed,
    render_files,
    render_header,
    render_nothing_to_ingest,
    render_summary,
)
from feefifofunds.cli.console import add_confirm_arguments, confirm, locked, make_console
from feefifofunds.ingestion.archive import (
    LooseFiles,
    RunSummary,
    default_ingested_dir,
    default_staging_dir,
    fsync_default,
    ingest,
)
from feefifofunds.sources.kraken_archive import discover
from feefifofunds.store.client import QuestDBError
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
    help = "Ingest Kraken OHLCVT CSV files into QuestDB (ILP over HTTP), moving each file once acknowledged."

    def add_arguments(self, parser):
        parser.add_argument("--tier", default="ALL", type=str.upper, choices=[*TIER_CHOICES, "ALL"],
                            help="Asset tier to ingest (TIER1/TIER2/TIER3/TIER4/ALL); an asset already in the "
                                 "catalog has the catalog's tier. Default: ALL")
        parser.add_argument("--intervals", help="Comma-separated intervals in minutes, e.g. 60,1440")
        add_confirm_arguments(parser)
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")
        parser.add_argument("--data-dir", type=Path, help="Data directory (default: settings.KRAKEN_DATA_DIR)")
        parser.add_argument("--stop-on-error", action="store_true", help="Stop at the first file that fails")
        parser.add_argument("--fsync", action="store_true", default=None,
                            help="fsync each archived file and its folders (survives a power loss; "
                                 "also FEEFIFOFUNDS_FSYNC=1)")

    def handle(self, *args, tier, intervals, yes, database, data_dir, stop_on_error, fsync, verbosity, **options):
        console = make_console(self.stdout)  # the one line at --verbosity 0 is printed by run()
        quiet = verbosity == 0
        intervals_set = parse_intervals(intervals)
        data_dir = Path(data_dir or settings.KRAKEN_DATA_DIR)
        if not data_dir.is_dir():
            raise CommandError(f"--data-dir {data_dir}: not a directory")
        try:
            # One run at a time per store and per data directory.
            with locked(database, data_dir=data_dir, command="ingest_sequential"):
                summary = self.run(console, quiet=quiet, tier=tier, intervals=intervals,
                                   intervals_set=intervals_set, yes=yes, database=database, data_dir=data_dir,
                                   stop_on_error=stop_on_error, fsync=fsync_default() if fsync is None else fsync)
        except QuestDBError as exc:
            raise CommandError(str(exc)) from None
        if summary is None:
            return
        render_failed(console, summary)
        if summary.error:
            raise CommandError(f"the run stopped: {summary.error}")
        if summary.failed:
            stop = " (stopped at the first error)" if summary.stopped_early else ""
            raise CommandError(f"{len(summary.failed)} file(s) failed{stop}")

    def run(self, console: Console, *, quiet, tier, intervals, intervals_set, yes, database, data_dir,
            stop_on_error, fsync) -> RunSummary | None:
        try:
            found = discover(data_dir, intervals=intervals_set)
        except OSError as exc:
            raise CommandError(f"cannot list the data directory {data_dir}: {exc.strerror or exc} "
                               f"({exc.filename or data_dir})") from None
        try:
            tiers = asset_tiers({f.base for f in found.files})
        except DatabaseError as exc:
            raise CommandError(f"reading asset tiers from the catalog: {exc}") from None
        files = [f for f in found.files if tier == "ALL" or tiers[f.base] == tier]
        ingested_dir = Path(settings.KRAKEN_INGESTED_DIR) if settings.KRAKEN_INGESTED_DIR \
            else default_ingested_dir(data_dir)
        if not quiet:
            render_header(console, data_dir=data_dir, tier=tier, intervals=intervals, database=database,
                          skipped=found.skipped)
        if not files:
            render_nothing_to_ingest(console, found.skipped, quiet=quiet)
            return None
        loose = LooseFiles(files, data_dir, ingested_dir, fsync=fsync)
        if not quiet:
            render_files(console, files, tiers, rows=loose.estimate_rows(), ingested_dir=ingested_dir)
        if not confirm(f"Proceed with ingesting {len(files):,} files? [y/N]: ", yes=yes, stdout=self.stdout,
                       refusal=f"refusing to ingest {len(files):,} files without confirmation"):
            raise CommandError("aborted: nothing was ingested")

        events = RichEvents(console, sum(f.size for f in files), len(files), quiet=quiet)
        with events.progress:
            summary = ingest([loose], alias=database, staging_dir=default_staging_dir(data_dir),
                             stop_on_error=stop_on_error, events=events)
        summary.skipped = found.skipped
        render_summary(console, summary, quiet=quiet)
        return summary
