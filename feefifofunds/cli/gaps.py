"""What ``backfill_kraken_gaps`` prints (rich) and exports: the gap report, the plan, the fill's progress and
results, the unfillable-gaps CSV, in the reference's layout.

Large reports stay readable: each series block shows its counts and its first ``max_per_series`` gaps, then
"… and N more"; each section shows its first ``max_series`` series, then the totals of the others (the CSV
export lists every unfillable gap). Dates are ``YYYY-MM-DD`` for daily candles, ``YYYY-MM-DD HH:MM`` (UTC)
otherwise; the CSV uses ``YYYY-MM-DD`` for daily candles and ISO ``YYYY-MM-DDTHH:MM`` (UTC) for intraday ones.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

from django.core.management.base import CommandError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from feefifofunds.gaps.backfill import CONFIRMED_EMPTY, FAILED, FILLED, NOT_FILLED, PARTLY_FILLED, FillResult
from feefifofunds.gaps.classify import REASON_NO_API_INTERVAL, ClassifiedGap
from feefifofunds.gaps.detection import Gap
from feefifofunds.gaps.plan import REASON_OVER_BUDGET, Plan, PlannedSpan, reason_text
from feefifofunds.gaps.run import Outcome, Survey
from feefifofunds.gaps.scope import AssetLabel
from feefifofunds.gaps.trades_fill import Budget, SpanResult
from feefifofunds.sources.kraken_rest import MAX_CANDLES

from .console import summary

HEAVY = "═" * 59
LIGHT = "─" * 59
CSV_COLUMNS = ("asset_ticker", "tier", "interval_minutes", "gap_start", "gap_end", "missing_candles",
               "candles_from_today", "overflow_candles", "quote_currency")
KRAKEN_CSV_URL = "https://www.kraken.com/features/api#ohlc-data"
DEFAULT_MAX_PER_SERIES = 5
DEFAULT_MAX_SERIES = 20  # series blocks per section; the CSV export lists every unfillable gap


def fmt_time(dt: datetime, interval_minutes: int) -> str:
    return dt.strftime("%Y-%m-%d") if interval_minutes >= 1440 else dt.strftime("%Y-%m-%d %H:%M")


def csv_time(dt: datetime, interval_minutes: int) -> str:
    return dt.strftime("%Y-%m-%d") if interval_minutes >= 1440 else dt.strftime("%Y-%m-%dT%H:%M")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def fmt_duration(minutes: int) -> str:
    if minutes % 1440 == 0:
        return _plural(minutes // 1440, "day")
    if minutes % 60 == 0:
        return _plural(minutes // 60, "hour")
    return _plural(minutes, "minute")


def _label(asset_id: int, quote: str, assets: Mapping[int, AssetLabel]) -> AssetLabel:
    return assets.get(asset_id) or AssetLabel(f"#{asset_id}", "?", quote)


def series_title(gap: Gap, assets: Mapping[int, AssetLabel]) -> str:
    label = _label(gap.asset_id, gap.quote_currency, assets)
    name = label.ticker if gap.quote_currency == label.quote_currency else f"{label.ticker}/{gap.quote_currency}"
    return f"{name} ({label.tier}) - {gap.interval_minutes} min interval"


def _sort_key(gap: Gap, assets: Mapping[int, AssetLabel]):
    return (_label(gap.asset_id, gap.quote_currency, assets).ticker, gap.quote_currency, gap.interval_minutes,
            gap.start)


def _by_series(items: Iterable, gap_of, assets: Mapping[int, AssetLabel]) -> list[tuple[Gap, list]]:
    """The items grouped by series, the series by ticker, quote and interval (grouped first, so the sort by
    ticker is one per series, not one per gap); within a group the items keep their order (``_blocks``
    sorts by time the groups it shows)."""
    groups: dict[tuple, list] = defaultdict(list)
    for item in items:
        groups[gap_of(item).series].append(item)
    order = sorted(groups, key=lambda s: (_label(s[0], s[1], assets).ticker, s[1], s[2], s[0]))
    return [(gap_of(groups[s][0]), groups[s]) for s in order]


def _block_header(console: Console, first: Gap, items: Sequence, gap_of, assets) -> None:
    title = escape(series_title(first, assets))
    if len(items) > 1:
        total = sum(gap_of(i).missing_candles for i in items)
        console.print(f"[bold]{title}:[/bold] {len(items):,} gaps, {total:,} candles")
    else:
        console.print(f"[bold]{title}:[/bold]")


def _more(console: Console, hidden: Sequence, gap_of) -> None:
    if hidden:
        total = sum(gap_of(i).missing_candles for i in hidden)
        console.print(f"  … and {len(hidden):,} more {'gap' if len(hidden) == 1 else 'gaps'} "
                      f"({total:,} candles)")


def _gap_line(console: Console, mark: str, style: str, gap: Gap) -> None:
    console.print(f"  [{style}]{mark}[/{style}] {fmt_time(gap.start, gap.interval_minutes)} → "
                  f"{fmt_time(gap.end, gap.interval_minutes)} "
                  f"({fmt_duration(gap.missing_candles * gap.interval_minutes)}, "
                  f"{_plural(gap.missing_candles, 'candle')})")


def render_report(console: Console, plan: Plan, confirmed_empty: Sequence[Gap], assets: Mapping[int, AssetLabel], *,
                  assets_scanned: int, series_scanned: int | None = None, show_unfillable_only: bool = False,
                  no_data: Sequence[str] = (), max_per_series: int = DEFAULT_MAX_PER_SERIES,
                  max_series: int = DEFAULT_MAX_SERIES) -> None:
    """The reference's report (API-fillable, unfillable, confirmed empty), with the trades-fillable and the
    trailing gaps in sections of their own; ``--show-unfillable-only`` shows the unfillable section alone."""
    console.print(HEAVY)
    console.print("[bold]Kraken Gap Detection Report[/bold]")
    console.print(HEAVY)
    console.print()
    series_part = f" ({series_scanned:,} series)" if series_scanned else ""
    console.print(f"Scanning {_plural(assets_scanned, 'asset')}{series_part} for gaps...")
    console.print()
    for line in no_data:
        console.print(f"[yellow]No data:[/yellow] {escape(line)}")
    if no_data:
        console.print()
    unfillable = plan.unfillable_gaps()
    if not show_unfillable_only:
        _ohlc_section(console, [c for c in plan.ohlc if not c.gap.trailing], assets, max_per_series, max_series)
        _trades_section(console, plan, assets, max_per_series, max_series)
        _trailing_section(console, plan, assets, max_per_series, max_series)
    _unfillable_section(console, [c for c in unfillable if not c.gap.trailing or show_unfillable_only], assets,
                        max_per_series, max_series)
    if confirmed_empty and not show_unfillable_only:
        _heading(console, "ℹ️  [bold]CONFIRMED EMPTY[/bold] (Kraken has no candle either: no trades, not data loss)")
        _blocks(console, confirmed_empty, _plain, assets, max_per_series, mark="·", style="dim", empty="",
                details=lambda g: [], max_series=max_series)
        total = sum(g.missing_candles for g in confirmed_empty)
        console.print(f"Summary: {_plural(len(confirmed_empty), 'confirmed-empty range')}, "
                      f"{total:,} candles (not reported as gaps)")
        console.print()
    console.print(HEAVY)
    console.print()


def _heading(console: Console, title: str) -> None:
    console.print(LIGHT)
    console.print(title)
    console.print(LIGHT)
    console.print()


def _blocks(console: Console, items: Sequence, gap_of, assets, max_per_series: int, *, mark: str, style: str,
            details, empty: str, max_series: int = DEFAULT_MAX_SERIES, rest: str = "") -> None:
    """One block per series: its gaps (the first ``max_per_series``), each with its detail lines; the first
    ``max_series`` series, then one line of totals for the others (``rest`` says where to see them all)."""
    groups = _by_series(items, gap_of, assets)
    for first, group in groups[:max_series]:
        group = sorted(group, key=lambda i: gap_of(i).start)
        _block_header(console, first, group, gap_of, assets)
        for item in group[:max_per_series]:
            _gap_line(console, mark, style, gap_of(item))
            for line in details(item):
                console.print(f"    └─ {line}")
        _more(console, group[max_per_series:], gap_of)
        console.print()
    hidden = groups[max_series:]
    if hidden:
        gaps = sum(len(group) for _, group in hidden)
        candles = sum(gap_of(i).missing_candles for _, group in hidden for i in group)
        console.print(f"… and {len(hidden):,} more series ({_plural(gaps, 'gap')}, "
                      f"{candles:,} candles){rest}")
        console.print()
    if not items:
        console.print(empty)
        console.print()


def _ohlc_section(console: Console, fillable: Sequence[ClassifiedGap], assets, max_per_series: int,
                  max_series: int) -> None:
    _heading(console, f"📊 [bold green]API-FILLABLE GAPS[/bold green] (within {MAX_CANDLES}-candle limit)")
    _blocks(console, fillable, _gap_of, assets, max_per_series, mark="✓", style="green", empty="No API-fillable gaps.",
            max_series=max_series,
            details=lambda c: [f"{c.candles_from_today:,} candles from today (limit: {MAX_CANDLES}) [green]✓[/green]"])
    total = sum(c.gap.missing_candles for c in fillable)
    console.print(f"Summary: {_plural(len(fillable), 'fillable gap')}, {total:,} total candles to fetch")
    console.print()


def _trades_section(console: Console, plan: Plan, assets, max_per_series: int, max_series: int) -> None:
    _heading(console, "🔁 [bold cyan]TRADES-FILLABLE GAPS[/bold cyan] (beyond the OHLC window: candles rebuilt "
                      "from Kraken's trade history)")
    gaps = [plan.classification(g) for p in plan.trades for g in p.span.gaps if not g.trailing]
    _blocks(console, gaps, _gap_of, assets, max_per_series, mark="✓", style="cyan", empty="No trades-fillable gaps.",
            max_series=max_series,
            details=lambda c: [f"{c.candles_from_today:,} candles from today: from trades [cyan]✓[/cyan]"])
    walks = [p for p in plan.trades if any(not g.trailing for g in p.span.gaps)]
    console.print(f"Summary: {_plural(len(gaps), 'gap')} in {_plural(len(walks), 'walk')} over trades, "
                  f"{_requests(walks)}")
    console.print()


def _trailing_section(console: Console, plan: Plan, assets, max_per_series: int, max_series: int) -> None:
    _heading(console, "⏩ [bold yellow]TRAILING GAPS[/bold yellow] (after the last stored candle, up to the last "
                      "finished one)")
    how: dict[Gap, str] = {}  # the trailing gaps only: a large store has hundreds of thousands of others
    for c in plan.ohlc:
        if c.gap.trailing:
            how[c.gap] = f"{c.candles_from_today:,} candles from today: OHLC [green]✓[/green]"
    for p in plan.trades:
        for g in p.span.gaps:
            if g.trailing:
                how[g] = "from trades [cyan]✓[/cyan]"
    for p in plan.over_budget:
        for g in p.span.gaps:
            if g.trailing:
                how[g] = "over this run's budget: a later run picks it up [red]✗[/red]"
    for c in plan.unfillable:
        if c.gap.trailing:
            how[c.gap] = f"{escape(reason_text(c))} [red]✗[/red]"
    for g in plan.delisted:
        how[g] = "delisted: Kraken lists the pair as delisted, nothing traded after its last candle"
    trailing = [g for g in how if g.trailing]
    _blocks(console, trailing, _plain, assets, max_per_series, mark="→", style="yellow",
            empty="No trailing gaps: every series is current.", details=lambda g: [how[g]], max_series=max_series)
    gone = set(plan.delisted)
    delisted = sum(1 for g in trailing if g in gone)
    console.print(f"Summary: {_plural(len(trailing), 'trailing gap')}, "
                  f"{sum(g.missing_candles for g in trailing if g not in gone):,} candles to bring the "
                  f"store up to date" + (f" ({_plural(delisted, 'delisted pair')} left as they are)" if delisted
                                         else ""))
    console.print()


def _unfillable_section(console: Console, unfillable: Sequence[ClassifiedGap], assets, max_per_series: int,
                        max_series: int) -> None:
    _heading(console, "❌ [bold red]UNFILLABLE GAPS[/bold red] (not filled by this run)")

    def details(c: ClassifiedGap) -> list[str]:
        g = c.gap
        if c.reason == REASON_OVER_BUDGET:
            return [f"{escape(reason_text(c))} [red]✗[/red]"]
        if c.reason == REASON_NO_API_INTERVAL:
            return [f"{g.interval_minutes}-minute candles are not offered by Kraken's OHLC endpoint "
                    f"(use --method auto or trades) [red]✗[/red]"]
        return [f"{c.candles_from_today:,} candles from today (limit: {MAX_CANDLES}) [red]✗[/red]",
                f"TOO OLD by {_plural(c.overflow_candles, 'candle')} "
                f"({fmt_duration(c.overflow_candles * g.interval_minutes)}) for OHLC: use --method auto or trades"]

    _blocks(console, unfillable, _gap_of, assets, max_per_series, mark="✗", style="red", empty="No unfillable gaps.",
            details=details, max_series=max_series, rest=": every one in the CSV of --export-unfillable FILE")
    console.print(f"Summary: {_plural(len(unfillable), 'unfillable gap')}")
    console.print()


def _requests(planned: Sequence[PlannedSpan]) -> str:
    known = sum(p.requests or 0 for p in planned)
    unknown = sum(1 for p in planned if p.requests is None and p.estimated)
    later = sum(1 for p in planned if not p.estimated)
    text = f"about {_plural(known, 'request')}"
    if unknown:
        text += f" (+ {_plural(unknown, 'walk')} of unknown size)"
    if later:
        text += f" (+ {_plural(later, 'walk')} not estimated: the run that takes them estimates them)"
    return text


def render_plan(console: Console, plan: Plan, *, rate_per_second: float, max_requests: int,
                max_minutes: float) -> None:
    """What the run will do and cost, before it asks to go ahead."""
    _heading(console, "[bold]PLAN[/bold]")
    console.print(f"  OHLC:   {_plural(len(plan.ohlc), 'gap')}, {_plural(plan.ohlc_requests, 'request')}")
    console.print(f"  Trades: {_plural(sum(len(p.span.gaps) for p in plan.trades), 'gap')} in "
                  f"{_plural(len(plan.trades), 'walk')}, {_requests(plan.trades)}")
    if plan.over_budget:
        left = sum(len(p.span.gaps) for p in plan.over_budget)
        console.print(f"  Left for a later run (over budget): {_plural(left, 'gap')}, {_requests(plan.over_budget)}")
    duration = plan.duration(rate_per_second)
    at = (f"about {fmt_duration(max(1, round(duration.total_seconds() / 60)))} at {rate_per_second:g} request/s"
          if duration is not None else "no rate limit configured")
    console.print(f"  Time:   {at}; this run stops after {_plural(max_requests, 'request')} or "
                  f"{max_minutes:g} minutes (--max-requests, --max-minutes)")
    console.print()


def _gap_of(c: ClassifiedGap) -> Gap:
    return c.gap


def _plain(g: Gap) -> Gap:
    return g


def write_unfillable_csv(file: IO[str], unfillable: Iterable[ClassifiedGap], assets: Mapping[int, AssetLabel]) -> int:
    """The reference's CSV of unfillable gaps (a bare ticker in ``asset_ticker``), plus ``quote_currency``;
    returns the number of rows written."""
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = sorted(unfillable, key=lambda c: _sort_key(c.gap, assets))
    for c in rows:
        g = c.gap
        label = _label(g.asset_id, g.quote_currency, assets)
        writer.writerow([label.ticker, label.tier, g.interval_minutes, csv_time(g.start, g.interval_minutes),
                         csv_time(g.end, g.interval_minutes), g.missing_candles, c.candles_from_today,
                         c.overflow_candles, g.quote_currency])
    return len(rows)


def one_line(plan: Plan, confirmed_empty: Sequence[Gap], results: Sequence[FillResult] | None,
             walks: Sequence[SpanResult] = ()) -> str:
    """The run in one line (``--verbosity 0``): gaps found, and what the backfill did when there was one."""
    trades = sum(len(p.span.gaps) for p in plan.trades)
    total = len(plan.ohlc) + trades + len(plan.unfillable_gaps()) + len(plan.delisted)
    trailing = sum(1 for c in plan.judged if c.gap.trailing)
    line = (f"{total:,} gaps ({len(plan.ohlc):,} via OHLC, {trades:,} via trades, "
            f"{len(plan.unfillable_gaps()):,} unfillable; {trailing:,} trailing), "
            f"{len(confirmed_empty):,} confirmed-empty ranges")
    if results is None:
        return line + "; nothing backfilled"
    counts = defaultdict(int)
    for r in results:
        counts[r.status] += 1
    done = ", ".join(f"{counts[s]:,} {s}" for s in (FILLED, PARTLY_FILLED, CONFIRMED_EMPTY, NOT_FILLED, FAILED)
                     if counts[s])
    if walks:
        written = sum(sum(w.written.values()) for w in walks)
        stopped = sum(1 for w in walks if w.stopped)
        failed = sum(1 for w in walks if w.error)
        done = ", ".join(filter(None, [done, f"trades: {written:,} candles written in {_plural(len(walks), 'walk')}"
                                       + (f", {stopped:,} to resume" if stopped else "")
                                       + (f", {failed:,} failed" if failed else "")]))
    return f"{line}; backfill: {done or 'nothing to do'}"


def walk_title(w: SpanResult, assets: Mapping[int, AssetLabel]) -> str:
    span = w.span
    label = _label(span.asset_id, span.quote_currency, assets)
    name = label.ticker if span.quote_currency == label.quote_currency else f"{label.ticker}/{span.quote_currency}"
    finest = min(span.intervals)
    return (f"{name} ({label.tier}) {fmt_time(span.start, finest)} → {fmt_time(span.end, finest)} "
            f"({', '.join(map(str, span.intervals))} min)")


def render_walks(console: Console, walks: Sequence[SpanResult], assets: Mapping[int, AssetLabel]) -> None:
    console.print()
    console.print(LIGHT)
    console.print("[bold]Backfill from trades[/bold]")
    console.print(LIGHT)
    for w in walks:
        written, empty = sum(w.written.values()), sum(w.empty.values())
        detail = f"{written:,} written, {empty:,} confirmed empty, {_plural(w.requests, 'request')}"
        if w.error:
            state, style, detail = "FAILED", "red", w.error
        elif w.done:
            state, style = "FILLED", "green"
        else:
            state, style = "TO RESUME", "yellow"
            detail += f"; {w.stopped}: the next run resumes where this one stopped"
        console.print(f"  [{style}]{state}[/{style}] {escape(walk_title(w, assets))}: {escape(detail)}")
    console.print()


STATUS_STYLE = {FILLED: "green", PARTLY_FILLED: "yellow", CONFIRMED_EMPTY: "cyan", NOT_FILLED: "yellow",
                FAILED: "red"}


def render_results(console: Console, results: Sequence[FillResult], assets: Mapping[int, AssetLabel]) -> None:
    console.print()
    console.print(LIGHT)
    console.print("[bold]Backfill results[/bold]")
    console.print(LIGHT)
    for r in sorted(results, key=lambda r: _sort_key(r.gap, assets)):
        g = r.gap
        style = STATUS_STYLE.get(r.status, "white")
        detail = f"{r.written:,} written"
        if r.confirmed_empty:
            detail += f", {r.confirmed_empty:,} confirmed empty"
        if r.remaining:
            detail += f", {r.remaining:,} still missing"
        if r.status == FAILED:
            detail = r.message
        console.print(f"  [{style}]{r.status.upper()}[/{style}] {escape(series_title(g, assets))} "
                      f"{fmt_time(g.start, g.interval_minutes)} → {fmt_time(g.end, g.interval_minutes)}: "
                      f"{escape(detail)}")
    counts = defaultdict(int)
    for r in results:
        counts[r.status] += 1
    console.print()
    console.print("Summary: " + ", ".join(f"{counts[s]:,} {s}" for s in
                                          (FILLED, PARTLY_FILLED, CONFIRMED_EMPTY, NOT_FILLED, FAILED) if counts[s]))
    failed = [r for r in results if r.status == FAILED]
    if failed:
        console.print()
        console.print(f"[red]Failed gaps ({len(failed)}):[/red]")
        for r in failed:
            g = r.gap
            console.print(f"  ✗ {escape(series_title(g, assets))} {fmt_time(g.start, g.interval_minutes)} → "
                          f"{fmt_time(g.end, g.interval_minutes)}: {escape(r.message)}")


# The command's steps, in the order it takes them.


def render_survey(console: Console, found: Survey, *, show_unfillable_only: bool) -> None:
    """The report of what the survey found; a warning when delisted pairs could not be told apart."""
    render_report(console, found.plan, found.confirmed_empty, found.labels, assets_scanned=found.assets_scanned,
                  series_scanned=found.series_scanned, show_unfillable_only=show_unfillable_only,
                  no_data=found.no_data)
    if found.pair_status_error:
        console.print(f"[yellow]Kraken's pair list could not be read ({found.pair_status_error}): delisted "
                      f"pairs are not told apart.[/yellow]", markup=True)


def export_unfillable(console: Console, path: Path, found: Survey) -> None:
    """``--export-unfillable``: the CSV written and said; a file that cannot be written stops the command."""
    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            n = write_unfillable_csv(fh, found.plan.unfillable_gaps(), found.labels)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    console.print(f"Exported {n:,} unfillable {'gap' if n == 1 else 'gaps'} to {path}", markup=False)


def render_report_only(console: Console, stream, found: Survey, *, dry_run: bool, rate_per_second: float,
                       max_requests: int, max_minutes: float) -> None:
    """The end of ``--dry-run`` (with the plan it would carry out) and of ``--show-unfillable-only``."""
    if dry_run:
        render_plan(console, found.plan, rate_per_second=rate_per_second, max_requests=max_requests,
                    max_minutes=max_minutes)
    console.print("Dry run: nothing was backfilled." if dry_run else
                  "Report only (--show-unfillable-only): nothing was backfilled.")
    summary(console, stream, one_line(found.plan, found.confirmed_empty, None))


def render_nothing_to_fill(console: Console, stream, found: Survey) -> None:
    console.print("Nothing to backfill.")
    summary(console, stream, one_line(found.plan, found.confirmed_empty, []))


def render_cancelled(console: Console) -> None:
    console.print("Backfill cancelled: nothing was written.")


class FillProgress:
    """The fill as it goes: a line per OHLC series fetched and, on a terminal, a bar of the requests over trades.

    ``series`` and ``page`` are ``run.execute``'s ``on_series`` and ``on_page`` hooks.
    """

    def __init__(self, console: Console, found: Survey, budget: Budget, *, max_requests: int):
        self.console, self.found, self.budget = console, found, budget
        self.bar = Progress(TextColumn("[bold]trades"), BarColumn(), MofNCompleteColumn(), TextColumn("requests"),
                            TimeElapsedColumn(), console=console, disable=not console.is_terminal, transient=True)
        self.task = self.bar.add_task("trades", total=min(max_requests, found.plan.trades_requests) or None)

    def __enter__(self) -> FillProgress:
        self.console.print(f"Backfilling {self.found.plan.to_fill:,} gaps from Kraken...")
        self.bar.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.bar.stop()

    def series(self, series_key: tuple[int, str, int], series_gaps: list[Gap], error: str | None) -> None:
        label = self.found.labels.get(series_key[0])
        name = label.ticker if label else f"#{series_key[0]}"
        state = f"[red]failed: {error}[/red]" if error else "[green]fetched[/green]"
        self.console.print(f"  {name}/{series_key[1]} {series_key[2]} min ({len(series_gaps)} gaps): {state}")

    def page(self, walk: SpanResult) -> None:
        self.bar.update(self.task, completed=self.budget.used)


def render_outcome(console: Console, stream, found: Survey, outcome: Outcome, *, requests_made: int,
                   max_requests: int) -> None:
    """What the fill did: the OHLC results, the walks over trades, the requests spent."""
    if outcome.ohlc:
        render_results(console, outcome.ohlc, found.labels)
    if outcome.walks:
        render_walks(console, outcome.walks, found.labels)
    console.print(f"Requests made: {requests_made:,} of {max_requests:,} allowed.")
    summary(console, stream, one_line(found.plan, found.confirmed_empty, outcome.ohlc, outcome.walks))
