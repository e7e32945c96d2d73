import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from feefifofunds.catalog import asset_tiers
from feefifofunds.ingestion.sequential import (
    Events,
    FileResult,
    RunSummary,
    default_ingested_dir,
    estimate_rows,
    fsync_default,
    ingest_files,
)
from feefifofunds.sources.kraken_archive import ARCHIVE_INTERVALS, ArchiveFile, discover
from feefifofunds.store.client import QuestDBError
from feefifofunds.store.lock import LOCKED_EXIT_CODE, LockBusy, writing
from feefifofunds.tiers import TIER_CHOICES


def parse_intervals(raw: str | None) -> set[int] | None:
    if not raw:
        return None
    try:
        values = {int(v) for v in raw.split(",") if v.strip()}
    except ValueError:
        raise CommandError(f"--intervals {raw!r}: expected comma-separated minutes, e.g. 60,1440") from None
    unknown = sorted(values - set(ARCHIVE_INTERVALS))
    if unknown or not values:
        raise CommandError(f"--intervals {raw!r}: unknown interval(s) {unknown}; "
                           f"the archive has {', '.join(map(str, ARCHIVE_INTERVALS))}")
    return values


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


class RichEvents(Events):
    """Live progress on a terminal; one line per file otherwise (readable in CI logs)."""

    def __init__(self, console: Console, total_bytes: int, total_files: int, *, quiet: bool = False):
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
            TextColumn("{task.fields[rows]:>12,} rows"), TextColumn("{task.fields[rate]:>10,.0f} rows/s"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not self.live,
        )
        self.task = self.progress.add_task("starting", total=total_bytes, rows=0, rate=0.0)
        self.total_files, self.done = total_files, 0
        self.rows = 0

    def file_started(self, f: ArchiveFile) -> None:
        self.progress.update(self.task, description=f"[{self.done + 1}/{self.total_files}] {f.relative} "
                                                     f"({human_bytes(f.size)})")

    def rows_sent(self, f: ArchiveFile, rows: int, nbytes: int) -> None:
        self.rows += rows
        elapsed = self.progress.tasks[0].elapsed or 1e-9
        self.progress.update(self.task, advance=nbytes, rows=self.rows, rate=self.rows / elapsed)

    def file_finished(self, result: FileResult) -> None:
        self.done += 1
        if result.status != "ingested":  # empty and failed files still count towards overall progress
            self.progress.update(self.task, advance=result.file.size)
        if self.quiet:
            return
        if not self.live or result.status != "ingested" or result.error:
            label = {"ingested": "ingested", "empty": "empty, deleted", "failed": "FAILED",
                     "vanished": "DISAPPEARED"}[result.status]
            detail = result.error
            if result.status == "ingested":
                detail = f"{result.rows:,} rows" + (f", {result.changed:,} stored candles changed"
                                                     if result.changed else "") + (f"; {detail}" if detail else "")
                if result.archived_as is not None and result.archived_as.parent.name.startswith("run-"):
                    detail += f"; archived as {result.archived_as} (the name was taken)"
            self.console.print(f"[{self.done}/{self.total_files}] {result.file.relative}: {label}"
                               + (f" ({detail})" if detail else ""), highlight=False, soft_wrap=True)


class Command(BaseCommand):
    help = "Ingest Kraken OHLCVT CSV files into QuestDB (ILP over HTTP), moving each file once acknowledged."

    def add_arguments(self, parser):
        parser.add_argument("--tier", default="ALL", type=str.upper, choices=[*TIER_CHOICES, "ALL"],
                            help="Asset tier to ingest (TIER1/TIER2/TIER3/TIER4/ALL); an asset already in the "
                                 "catalog has the catalog's tier. Default: ALL")
        parser.add_argument("--intervals", help="Comma-separated intervals in minutes, e.g. 60,1440")
        parser.add_argument("--yes", "-y", "--no-input", "--noinput", dest="yes", action="store_true",
                            help="Skip the confirmation prompt")
        parser.add_argument("--database", default="questdb", help="QuestDB alias (default: questdb)")
        parser.add_argument("--data-dir", type=Path, help="Data directory (default: settings.KRAKEN_DATA_DIR)")
        parser.add_argument("--stop-on-error", action="store_true", help="Stop at the first file that fails")
        parser.add_argument("--fsync", action="store_true", default=None,
                            help="fsync each archived file and its folders (survives a power loss; "
                                 "also FEEFIFOFUNDS_FSYNC=1)")

    def handle(self, *args, tier, intervals, yes, database, data_dir, stop_on_error, fsync, verbosity, **options):
        console = Console(file=self.stdout, width=None if self.stdout.isatty() else 120, highlight=False)
        quiet = verbosity == 0
        intervals_set = parse_intervals(intervals)
        data_dir = Path(data_dir or settings.KRAKEN_DATA_DIR)
        if not data_dir.is_dir():
            raise CommandError(f"--data-dir {data_dir}: not a directory")
        try:
            with writing(database, data_dir):  # one run at a time per store and per data directory
                summary = self.run(console, quiet=quiet, tier=tier, intervals=intervals,
                                   intervals_set=intervals_set, yes=yes, database=database, data_dir=data_dir,
                                   stop_on_error=stop_on_error, fsync=fsync_default() if fsync is None else fsync)
        except LockBusy as exc:
            self.stderr.write(f"ingest_sequential: not started: {exc}")
            raise SystemExit(LOCKED_EXIT_CODE) from None
        except QuestDBError as exc:
            raise CommandError(str(exc)) from None
        if summary is None:
            return
        if summary.failed:
            console.print("[bold red]Failed files[/] (left in place; rows stored only where said):")
            for r in summary.failed:
                console.print(f"  ✗ {r.error}", soft_wrap=True)
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
            console.rule("Kraken OHLCVT ingestion")
            console.print(f"Data directory: {data_dir}   tier: {tier}   intervals: "
                          f"{intervals or 'all'}   QuestDB alias: {database}")
            for s in found.skipped:
                console.print(f"  skipped {s.path.relative_to(data_dir)}: {s.reason}")
        if not files:
            summary = RunSummary(skipped=found.skipped)
            console.print("No OHLCVT files to ingest." if not quiet else self.one_line(summary))
            return None
        if not quiet:
            console.print(self.discovery_table(files, tiers))
            console.print(f"{len(files):,} files, {human_bytes(sum(f.size for f in files))}, "
                          f"about {estimate_rows(files):,} rows. Ingested files move to {ingested_dir}")
        if not yes:
            self.confirm(f"Proceed with ingesting {len(files):,} files? [y/N]: ")

        events = RichEvents(console, sum(f.size for f in files), len(files), quiet=quiet)
        with events.progress:
            summary = ingest_files(files, alias=database, ingested_dir=ingested_dir, stop_on_error=stop_on_error,
                                   events=events, fsync=fsync)
        summary.skipped = found.skipped
        console.print(self.one_line(summary) if quiet else self.summary_table(summary))
        return summary

    def confirm(self, question: str) -> None:
        if not sys.stdin or not sys.stdin.isatty():
            raise CommandError("not asking for confirmation without a terminal: pass --yes (or --no-input) "
                               "to proceed")
        self.stdout.write(question, ending="")
        self.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise CommandError("aborted: nothing was ingested")

    @staticmethod
    def discovery_table(files: list[ArchiveFile], tiers: dict[str, str]) -> Table:
        table = Table(title="Files found", show_footer=True)
        table.add_column("group", footer="total")
        table.add_column("files", justify="right", footer=f"{len(files):,}")
        table.add_column("size", justify="right", footer=human_bytes(sum(f.size for f in files)))
        groups: dict[str, list[ArchiveFile]] = {}
        for f in files:
            groups.setdefault(tiers[f.base], []).append(f)
        for f in sorted(files, key=lambda f: f.interval_minutes):
            groups.setdefault(f"{f.interval_minutes} min", []).append(f)
        for name, members in sorted(groups.items(), key=lambda kv: (not kv[0].startswith("TIER"), kv[0])
                                    if kv[0].startswith("TIER") else (True, int(kv[0].split()[0]))):
            table.add_row(name, f"{len(members):,}", human_bytes(sum(m.size for m in members)))
        return table

    @staticmethod
    def one_line(summary: RunSummary) -> str:
        parts = [f"{len(summary.by_status('ingested')):,} files ingested", f"{summary.rows:,} rows written",
                 f"{summary.changed:,} stored candles changed", f"{len(summary.failed):,} failed",
                 f"{len(summary.skipped):,} skipped"]
        if summary.by_status("empty"):
            parts.append(f"{len(summary.by_status('empty')):,} empty deleted")
        if summary.by_status("vanished"):
            parts.append(f"{len(summary.by_status('vanished')):,} disappeared")
        if summary.not_processed:
            parts.append(f"{summary.not_processed:,} not processed")
        return "ingest_sequential: " + ", ".join(parts) + f" in {summary.elapsed:,.1f} s" + \
            (f"; STOPPED: {summary.error}" if summary.error else "")

    @staticmethod
    def summary_table(summary: RunSummary) -> Table:
        table = Table(title="Summary", show_header=False)
        table.add_column(justify="left")
        table.add_column(justify="right")
        rate = summary.rows / summary.elapsed if summary.elapsed else 0
        rows = [("files ingested", len(summary.by_status("ingested"))),
                ("empty files deleted", len(summary.by_status("empty"))),
                ("files failed", len(summary.failed)), ("files skipped", len(summary.skipped)),
                ("files disappeared", len(summary.by_status("vanished"))),
                ("files not processed", summary.not_processed),
                ("assets created", summary.assets_created), ("rows written", summary.rows),
                ("stored candles changed", summary.changed),
                ("elapsed", f"{summary.elapsed:,.1f} s"), ("rows per second", f"{rate:,.0f}")]
        for label, value in rows:
            table.add_row(label, f"{value:,}" if isinstance(value, int) else value)
        if summary.error:
            table.add_row("run stopped", summary.error)
        return table
