"""What ``load_prices`` and ``backfill_prices`` print (rich): progress with percentage and ETA, preview, summary.

``run_command`` is what both commands do between parsing and the exit decision: the loader's checks, the
load (``feefifofunds.ingestion.api_loader``) with its progress drawn, then the result rendered.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from feefifofunds.ingestion import api_loader
from feefifofunds.ingestion.api_loader import PREVIEW_ROWS, LoadError, ProgressSink, RunResult
from feefifofunds.store.config import DEFAULT_ALIAS

from .console import make_console, summary


class RichProgress(ProgressSink):
    def __init__(self, console: Console, title: str):
        self.console = console
        self.title = title
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[current]}"),
            console=console,
            transient=False,
            disable=console.quiet,
        )
        self.task = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.progress.stop()

    def begin(self, total: int, unit: str) -> None:
        self.task = self.progress.add_task(f"{self.title} ({unit})", total=total, current="")

    def step(self, label: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=1, current=label)


def render_preview(console: Console, result: RunResult, rows: int = PREVIEW_ROWS) -> None:
    for outcome in result.assets:
        if outcome.preview is None or outcome.preview.height == 0:
            continue
        frame = outcome.preview.sort("time")
        shown = frame.head(rows)
        table = Table(title=f"{outcome.ticker}: {frame.height} candles would be written "
                            f"({outcome.created} new, {outcome.updated} replacing stored ones)")
        for column in ("time", "open", "high", "low", "close", "volume", "trades", "vwap", "status"):
            table.add_column(column, justify="left" if column in ("time", "status") else "right")
        for row in shown.iter_rows(named=True):
            table.add_row(
                row["time"].strftime("%Y-%m-%d %H:%M"),
                *(f"{row[c]:.6g}" for c in ("open", "high", "low", "close", "volume")),
                "" if row["trade_count"] is None else str(row["trade_count"]),
                "" if row["vwap"] is None else f"{row['vwap']:.6g}",
                "update" if row["exists"] else "new",
            )
        if frame.height > rows:
            table.caption = f"first {rows} of {frame.height}"
        console.print(table)


def render_summary(console: Console, result: RunResult) -> None:
    console.print(f"{result.source}: {result.interval_minutes}-minute candles from {result.start:%Y-%m-%d} "
                  f"to {result.end:%Y-%m-%d} (exclusive)" + (" [DRY RUN: nothing written]" if result.dry_run else ""),
                  markup=False, soft_wrap=True)
    table = Table()
    for column in ("asset", "candles", "created", "updated", "status"):
        table.add_column(column, justify="left" if column in ("asset", "status") else "right")
    for outcome in result.assets:
        table.add_row(outcome.ticker, str(outcome.fetched), str(outcome.created), str(outcome.updated),
                      "FAILED" if outcome.error else ("no data" if outcome.fetched == 0 else "ok"))
    console.print(table)
    if result.dry_run:
        console.print(f"Dry run: {result.created} would be created, {result.updated} would be updated, nothing "
                      f"written ({result.requests} API requests)", soft_wrap=True)
    else:
        console.print(f"Total: {result.created} created, {result.updated} updated ({result.requests} API requests)",
                      soft_wrap=True)
    if result.gaps:
        render_gap_fill(console, result)
    render_off_calendar(console, result)
    if result.failures:
        console.print(f"[red]Failed ({len(result.failures)}):[/red]")
        for label, error in result.failures:
            console.print(f"  {label}: {error}", markup=False, soft_wrap=True)
    if result.aborted:
        console.print("[red]Stopped early:[/red]", escape(result.aborted), soft_wrap=True)


def render_gap_fill(console: Console, result: RunResult, shown: int = 10) -> None:
    """Gap mode: per asset, how many expected candles were missing, how many came, and what is still missing
    (the provider has no bar for it: reported, not asked again in this run)."""
    fmt = "%Y-%m-%d" if result.interval_minutes >= 1440 else "%Y-%m-%d %H:%M"
    for outcome in result.assets:
        if outcome.missing is None:
            continue
        if outcome.missing == 0:
            console.print(f"{outcome.ticker}: nothing missing", markup=False, soft_wrap=True)
            continue
        line = f"{outcome.ticker}: {outcome.missing} missing, {outcome.missing - len(outcome.still_missing)} filled"
        if outcome.still_missing:
            times = ", ".join(f"{t:{fmt}}" for t in outcome.still_missing[:shown])
            more = f" and {len(outcome.still_missing) - shown} more" if len(outcome.still_missing) > shown else ""
            line += f"; still missing ({result.source} has no candle): {times}{more}"
        console.print(line, markup=False, soft_wrap=True)


def render_off_calendar(console: Console, result: RunResult, shown: int = 10) -> None:
    """Candles the provider sent for days the asset's market was closed: stored as sent, said here."""
    fmt = "%Y-%m-%d" if result.interval_minutes >= 1440 else "%Y-%m-%d %H:%M"
    for outcome in result.assets:
        if outcome.off_calendar:
            times = ", ".join(f"{t:{fmt}}" for t in sorted(outcome.off_calendar)[:shown])
            more = f" and {len(outcome.off_calendar) - shown} more" if len(outcome.off_calendar) > shown else ""
            n = len(outcome.off_calendar)
            console.print(f"{outcome.ticker}: {n} candle{'s' if n != 1 else ''} on days {outcome.calendar} was "
                          f"closed, kept as sent (off-calendar, never gaps): {times}{more}", markup=False,
                          soft_wrap=True)


def one_line(result: RunResult) -> str:
    """The run in one line: what ``--verbosity 0`` prints (cron logs)."""
    done = "would be created" if result.dry_run else "created"
    failed = f", {len(result.failures)} failed" if result.failures else ""
    stopped = ", stopped early" if result.aborted else ""
    return (f"{result.source}: {len(result.assets)} assets, {result.created} candles {done}, {result.updated} "
            f"updated{failed}{stopped} ({result.requests} API requests)")


def run_command(stream, *, source_name: str, ticker: str | None = None, all_assets: bool = False,
                category: str | None = None, days=None, start=None, end=None,
                interval_minutes: int = api_loader.DEFAULT_INTERVAL, grouped: bool = False, dry_run: bool = False,
                alias: str = DEFAULT_ALIAS, verbosity: int = 1, gaps: bool = False) -> RunResult:
    """What both commands do: check arguments and key, resolve, load with progress, render.

    Raises ``LoadError`` for anything that stops the run before it starts; the caller turns a result that is
    not ``ok`` into a non-zero exit, and holds the store lock when the run writes.
    """
    if grouped and not api_loader.offers_grouped_daily(source_name):
        raise LoadError(f"--grouped needs a source with a grouped daily endpoint (massive), not {source_name}")
    if grouped and not all_assets:
        raise LoadError("--grouped requires --all")
    if grouped and interval_minutes != 1440:
        raise LoadError("--grouped gives daily candles only (--interval 1440)")
    if category and not all_assets:
        raise LoadError("--category works with --all only")
    range_start, range_end = api_loader.resolve_range(days=days, start=start, end=end)
    console = make_console(stream, verbosity)
    with api_loader.open_api_source(source_name) as source:  # a missing key stops here, before any work
        if interval_minutes not in source.intervals:
            raise LoadError(f"{source_name} cannot give {interval_minutes}-minute candles "
                            f"(it gives: {', '.join(map(str, source.intervals))} minutes)")
        assets = api_loader.resolve_assets(ticker=ticker, all_assets=all_assets, category=category)
        title = f"{source_name}{' grouped' if grouped else ''}{' gaps' if gaps else ''}{' dry run' if dry_run else ''}"
        with RichProgress(console, title) as progress:
            if grouped:
                result = api_loader.load_grouped(source, assets, start=range_start, end=range_end,
                                                 dry_run=dry_run, alias=alias, progress=progress, gaps=gaps)
            else:
                result = api_loader.load_assets(source, assets, start=range_start, end=range_end,
                                                interval_minutes=interval_minutes, dry_run=dry_run, alias=alias,
                                                progress=progress, gaps=gaps)
    if dry_run:
        render_preview(console, result)
    render_summary(console, result)
    summary(console, stream, one_line(result))
    return result
