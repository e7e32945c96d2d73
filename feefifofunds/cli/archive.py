"""What ``ingest_sequential`` prints (rich): the run's header, discovery table, live progress, summary, one line.

``RichEvents`` draws the archive job's ``Events`` (``feefifofunds.ingestion.archive``): a live bar on a
terminal, one line per file otherwise (readable in CI and cron logs).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from feefifofunds.ingestion.archive import Events, FileResult, RunSummary, Selection, ZipArchive, ZipOutcome
from feefifofunds.sources.kraken_archive import ArchiveFile


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def shown(f: ArchiveFile) -> str:
    """A file as the user knows it: its path under the data directory, or ``zip:member``."""
    return f"{f.path.name}:{f.member}" if f.member else str(f.relative)


class RichEvents(Events):
    """Live progress on a terminal; one line per file otherwise (readable in CI logs). ``zips``: members and
    uncompressed bytes of each zip, a bar each (done members)."""

    def __init__(self, console: Console, total_bytes: int, total_files: int, *, quiet: bool = False,
                 zips: dict[Path, tuple[int, int]] | None = None):
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
        self.zips = {path: [self.progress.add_task(path.name, total=max(1, nbytes), rows=0, rate=0.0), 0, members, 0]
                     for path, (members, nbytes) in (zips or {}).items()}  # [task, done, members, rows]

    def write_path(self, name: str, note: str) -> None:
        if not self.quiet:
            way = "Parquet files read by QuestDB" if name == "parquet" else "ILP over HTTP"
            self.console.print(f"Write path: {way} ({note})", soft_wrap=True)

    # The bars are drawn on a terminal only: elsewhere nothing is updated (a call per file adds up over the
    # thousands of small files of an update).

    def file_started(self, f: ArchiveFile) -> None:
        if not self.live:
            return
        self.progress.update(self.task, description=f"[{self.done + 1}/{self.total_files}] {shown(f)} "
                                                     f"({human_bytes(f.size)})")

    def rows_sent(self, f: ArchiveFile, rows: int, nbytes: int) -> None:
        if self.live:
            self.progress.update(self.task, advance=nbytes)

    def rows_written(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        if not self.live:
            return
        elapsed = self.progress.tasks[0].elapsed or 1e-9
        self.progress.update(self.task, description=f"writing in time order ({self.done}/{self.total_files} "
                                                    "files archived)", advance=nbytes, rows=self.rows,
                             rate=self.rows / elapsed)

    def file_finished(self, result: FileResult) -> None:
        self.done += 1
        if self.live and result.status != "ingested":  # empty and failed files still count towards progress
            self.progress.update(self.task, advance=result.file.size)
        if self.live and (z := self.zips.get(result.file.path)) and result.file.member:
            z[1], z[3] = z[1] + 1, z[3] + result.rows
            self.progress.update(z[0], advance=result.file.size, rows=z[3], description=f"{result.file.path.name} "
                                 f"{z[1]:,}/{z[2]:,} members", rate=z[3] / (self.progress.tasks[z[0]].elapsed or 1e-9))
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
            line = f"[{self.done}/{self.total_files}] {shown(result.file)}: {label}"
            line += f" ({detail})" if detail else ""
            if self.live:
                self.console.print(line, highlight=False, soft_wrap=True, markup=False)
            elif not self.console.quiet:  # a log: plain lines as they are (rendering adds up over thousands)
                self.console.file.write(line + "\n")


def discovery_table(files: list[ArchiveFile], tiers: dict[str, str], *, title: str = "Files found",
                    what: str = "files") -> Table:
    table = Table(title=title, show_footer=True)
    table.add_column("group", footer="total")
    table.add_column(what, justify="right", footer=f"{len(files):,}")
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

def zip_overview(source: ZipArchive, tiers: dict[str, str]) -> list[Table | str]:
    """Before the confirmation: a zip's members to ingest by tier and interval, and what else it holds."""
    listing, todo = source.listing, source.files
    others = [f"{n:,} {what}" for n, what in ((len(source.done), "done before"),
                                              (len(source.pending), "pending (not selected)"),
                                              (listing.junk, "junk entries (macOS) skipped"),
                                              (len(listing.skipped), "skipped")) if n]
    line = (f"{listing.path.name}: {len(listing.members):,} members" + (f" ({', '.join(others)})" if others else "")
            + f"; this run: {len(todo):,} members, {human_bytes(sum(f.size for f in todo))} uncompressed, about "
            f"{source.estimate_rows():,} rows")
    return [discovery_table(todo, tiers, title=f"{listing.path.name}: members to ingest", what="members"), line] \
        if todo else [line]


def zip_table(outcomes: list[ZipOutcome]) -> Table:
    """After the run: where each zip stands."""
    table = Table(title="Zips")
    for name in ("zip", "members", "done", "failed", "pending", "not done", "junk/skipped", "now"):
        table.add_column(name, justify="left" if name in ("zip", "now") else "right")
    for z in outcomes:
        now = "moved" if z.moved_to else ("kept in place" if z.kept else "removed (identical copy archived)")
        table.add_row(z.path.name, *(f"{n:,}" for n in (z.members, z.done, z.failed, z.pending, z.not_done)),
                      f"{z.junk:,}/{z.skipped:,}", now)
    return table


def zip_hints(outcomes: list[ZipOutcome]) -> list[str]:
    """How to go on with each zip that stays in the data directory."""
    hints = []
    for z in outcomes:
        if z.moved_to:
            hints.append(f"{z.path.name}: every member done, moved to {z.moved_to}")
        if z.note:
            hints.append(f"{z.path.name}: {z.note}")
        if not z.members:
            hints.append(f"{z.path.name} holds no OHLCVT member (PAIR_MINUTES.csv): left alone")
        elif z.kept and not z.moved_to and z.done < z.members:
            hints.append(f"{z.path.name} stays in the data directory: the next run takes its {z.members - z.done:,} "
                         "members not done (failed ones again; no done member is read again). To release it, fix "
                         "what failed (a damaged zip: download it again) or move it away yourself; --rescan "
                         f"{z.path.name} forgets its record, so a run reads it whole.")
    return hints


def one_line(summary: RunSummary, zips: list[ZipOutcome] = ()) -> str:
    parts = [f"{len(summary.by_status('ingested')):,} files ingested", f"{summary.rows:,} rows written",
             f"{summary.changed:,} stored candles changed", f"{len(summary.failed):,} failed",
             f"{len(summary.skipped):,} skipped"]
    if summary.by_status("empty"):
        parts.append(f"{len(summary.by_status('empty')):,} empty deleted")
    if summary.by_status("vanished"):
        parts.append(f"{len(summary.by_status('vanished')):,} disappeared")
    if summary.not_processed:
        parts.append(f"{summary.not_processed:,} not processed")
    if summary.unreadable:
        parts.append(f"{len(summary.unreadable):,} unreadable zip(s)")
    if zips:
        kept = [z for z in zips if z.kept and not z.moved_to]
        parts.append(f"zips: {len(zips) - len(kept):,} done, {len(kept):,} kept ({sum(z.failed for z in kept):,} "
                     f"members failed, {sum(z.pending + z.not_done for z in kept):,} pending)")
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
    if summary.unreadable:
        table.add_row("unreadable zips", f"{len(summary.unreadable):,}")
    if summary.error:
        table.add_row("run stopped", escape(summary.error))  # QuestDB's words hold [brackets]
    return table


def render_header(console: Console, sel: Selection, *, data_dir: Path, shown_dir: Path, tier: str,
                  intervals: str | None, database: str) -> None:
    """What the run looks at, and what of the data directory it leaves alone (and why)."""
    console.rule("Kraken OHLCVT ingestion")
    console.print(f"Data directory: {shown_dir}   tier: {tier}   intervals: "
                  f"{intervals or 'all'}   QuestDB alias: {database}")
    for s in sel.skipped:
        console.print(f"  skipped {s.path.relative_to(data_dir)}{':' + s.member if s.member else ''}: {s.reason}")
    for s in sel.unreadable:
        console.print(f"  [bold red]✗[/] {s.path}: {s.reason}")


def render_selection(console: Console, sel: Selection, *, ingested_dir: Path) -> None:
    """The files and zip members the run will ingest (shown before it asks to go ahead)."""
    if sel.files:
        console.print(discovery_table(sel.files, sel.tiers))
        console.print(f"{len(sel.files):,} files, {human_bytes(sum(f.size for f in sel.files))}, "
                      f"about {sel.loose.estimate_rows():,} rows. Ingested files move to {ingested_dir}")
    for z in sel.zips:
        for part in zip_overview(z, sel.tiers):
            console.print(part)
    if sel.members:
        console.print(f"Zips move to {ingested_dir} once every member is done.")


def render_nothing_to_ingest(console: Console, summary: RunSummary, outcomes: list[ZipOutcome], *,
                             quiet: bool) -> None:
    if quiet:
        console.print(one_line(summary, outcomes), markup=False)
        return
    console.print("No OHLCVT files to ingest.")
    render_zips(console, outcomes)


def render_summary(console: Console, summary: RunSummary, outcomes: list[ZipOutcome], *, quiet: bool) -> None:
    if quiet:
        console.print(one_line(summary, outcomes), markup=False)
        return
    console.print(summary_table(summary))
    render_zips(console, outcomes)


def render_zips(console: Console, outcomes: list[ZipOutcome]) -> None:
    if outcomes:
        console.print(zip_table(outcomes))
        for hint in zip_hints(outcomes):
            console.print(hint, soft_wrap=True, markup=False)


def render_resumed(console: Console, table: str, reason: str | None) -> None:
    """The store's table was suspended (``reason``: QuestDB's words) and is resumed, its WAL applied."""
    if reason is not None:
        console.print(f"QuestDB had suspended the table {table} ({reason}): resumed (ALTER TABLE {table} RESUME "
                      "WAL), the rows it had acknowledged are applied", soft_wrap=True, markup=False)


def render_failed(console: Console, summary: RunSummary) -> None:
    if summary.failed:
        console.print("[bold red]Failed files[/] (left in place; rows stored only where said):")
        for r in summary.failed:
            console.print(f"  ✗ {escape(r.error)}", soft_wrap=True)
    if summary.unreadable:
        console.print("[bold red]Zips that cannot be read[/] (left in place):")
        for s in summary.unreadable:
            console.print(f"  ✗ {s.path}: {s.reason}", soft_wrap=True)
