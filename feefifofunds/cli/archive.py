"""What ``ingest_sequential`` prints (rich): the run's header, discovery table, live progress, summary, one line.

``RichEvents`` draws the archive job's ``Events`` (``feefifofunds.ingestion.archive``): a live bar on a
terminal, one line per file otherwise (readable in CI and cron logs).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from feefifofunds.ingestion.archive import Events, FileResult, RunSummary
from feefifofunds.sources.kraken_archive import ArchiveFile, SkippedFile


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
            TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rows]:>12,} rows"), TextColumn("{task.fields[rate]:>10,.0f} rows/s"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not self.live,
        )
        # Each byte counts twice: once read and staged, once written (its share of the rows sent).
        self.task = self.progress.add_task("starting", total=2 * total_bytes, rows=0, rate=0.0)
        self.total_files, self.done = total_files, 0
        self.rows = 0

    def write_path(self, name: str, note: str) -> None:
        if not self.quiet:
            way = "Parquet files read by QuestDB" if name == "parquet" else "ILP over HTTP"
            self.console.print(f"Write path: {way} ({note})", soft_wrap=True)

    def file_started(self, f: ArchiveFile) -> None:
        self.progress.update(self.task, description=f"[{self.done + 1}/{self.total_files}] {f.relative} "
                                                     f"({human_bytes(f.size)})")

    def rows_sent(self, f: ArchiveFile, rows: int, nbytes: int) -> None:
        self.progress.update(self.task, advance=nbytes)

    def rows_written(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        elapsed = self.progress.tasks[0].elapsed or 1e-9
        self.progress.update(self.task, description=f"writing in time order ({self.done}/{self.total_files} "
                                                    "files archived)", advance=nbytes, rows=self.rows,
                             rate=self.rows / elapsed)

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


def render_header(console: Console, *, data_dir: Path, tier: str, intervals: str | None, database: str,
                  skipped: list[SkippedFile]) -> None:
    """What the run looks at, and the files of the data directory it leaves alone (and why)."""
    console.rule("Kraken OHLCVT ingestion")
    console.print(f"Data directory: {data_dir}   tier: {tier}   intervals: "
                  f"{intervals or 'all'}   QuestDB alias: {database}")
    for s in skipped:
        console.print(f"  skipped {s.path.relative_to(data_dir)}: {s.reason}")


def render_nothing_to_ingest(console: Console, skipped: list[SkippedFile], *, quiet: bool) -> None:
    console.print("No OHLCVT files to ingest." if not quiet else one_line(RunSummary(skipped=skipped)))


def render_files(console: Console, files: list[ArchiveFile], tiers: dict[str, str], *, rows: int,
                 ingested_dir: Path) -> None:
    """The files the run will ingest (shown before it asks to go ahead)."""
    console.print(discovery_table(files, tiers))
    console.print(f"{len(files):,} files, {human_bytes(sum(f.size for f in files))}, "
                  f"about {rows:,} rows. Ingested files move to {ingested_dir}")


def render_summary(console: Console, summary: RunSummary, *, quiet: bool) -> None:
    console.print(one_line(summary) if quiet else summary_table(summary))


def render_failed(console: Console, summary: RunSummary) -> None:
    if summary.failed:
        console.print("[bold red]Failed files[/] (left in place; rows stored only where said):")
        for r in summary.failed:
            console.print(f"  ✗ {r.error}", soft_wrap=True)
