"""The gap report (rich), the unfillable-gaps CSV, and the backfill results, in the reference's layout.

Large reports stay readable: each series block shows its counts and its first ``max_per_series`` gaps, then
"… and N more". Dates are ``YYYY-MM-DD`` for daily candles, ``YYYY-MM-DD HH:MM`` (UTC) otherwise; the CSV
uses ``YYYY-MM-DD`` for daily candles and ISO ``YYYY-MM-DDTHH:MM`` (UTC) for intraday ones.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from rich.console import Console
from rich.markup import escape

from feefifofunds.sources.kraken_rest import MAX_CANDLES

from .backfill import CONFIRMED_EMPTY, FAILED, FILLED, NOT_FILLED, PARTLY_FILLED, FillResult
from .classify import REASON_NO_API_INTERVAL, ClassifiedGap
from .detection import Gap

HEAVY = "═" * 59
LIGHT = "─" * 59
CSV_COLUMNS = ("asset_ticker", "tier", "interval_minutes", "gap_start", "gap_end", "missing_candles",
               "candles_from_today", "overflow_candles")
KRAKEN_CSV_URL = "https://www.kraken.com/features/api#ohlc-data"
DEFAULT_MAX_PER_SERIES = 5


@dataclass(frozen=True)
class AssetLabel:
    ticker: str
    tier: str
    quote_currency: str = "USD"  # the asset's usual quote: other quotes are shown as TICKER/QUOTE


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
    groups: dict[tuple, list] = defaultdict(list)
    for item in sorted(items, key=lambda i: _sort_key(gap_of(i), assets)):
        groups[gap_of(item).series].append(item)
    return [(gap_of(v[0]), v) for v in groups.values()]


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


def _section(console: Console, title: str) -> None:
    console.print(LIGHT)
    console.print(title)
    console.print(LIGHT)
    console.print()


def render_report(console: Console, classified: Sequence[ClassifiedGap], confirmed_empty: Sequence[Gap],
                  assets: Mapping[int, AssetLabel], *, assets_scanned: int, series_scanned: int | None = None,
                  show_unfillable_only: bool = False, max_per_series: int = DEFAULT_MAX_PER_SERIES) -> None:
    fillable = [c for c in classified if c.fillable]
    unfillable = [c for c in classified if not c.fillable]
    console.print(HEAVY)
    console.print("[bold]Kraken Gap Detection Report[/bold]")
    console.print(HEAVY)
    console.print()
    series_part = f" ({series_scanned:,} series)" if series_scanned else ""
    console.print(f"Scanning {_plural(assets_scanned, 'asset')}{series_part} for gaps...")
    console.print()

    if not show_unfillable_only:
        _section(console, f"📊 [bold green]API-FILLABLE GAPS[/bold green] (within {MAX_CANDLES}-candle limit)")
        gap_of = _gap_of
        for first, items in _by_series(fillable, gap_of, assets):
            _block_header(console, first, items, gap_of, assets)
            for c in items[:max_per_series]:
                _gap_line(console, "✓", "green", c.gap)
                console.print(f"    └─ {c.candles_from_today:,} candles from today (limit: {MAX_CANDLES}) "
                              f"[green]✓[/green]")
            _more(console, items[max_per_series:], gap_of)
            console.print()
        total = sum(c.gap.missing_candles for c in fillable)
        if not fillable:
            console.print("No API-fillable gaps.")
            console.print()
        console.print(f"Summary: {_plural(len(fillable), 'fillable gap')}, {total:,} total candles to fetch")
        console.print()

    _section(console, f"❌ [bold red]UNFILLABLE GAPS[/bold red] (beyond {MAX_CANDLES}-candle limit)")
    gap_of = _gap_of
    for first, items in _by_series(unfillable, gap_of, assets):
        _block_header(console, first, items, gap_of, assets)
        for c in items[:max_per_series]:
            g = c.gap
            _gap_line(console, "✗", "red", g)
            if c.reason == REASON_NO_API_INTERVAL:
                console.print(f"    └─ {g.interval_minutes}-minute candles are not offered by Kraken's REST API "
                              f"(archive only) [red]✗[/red]")
            else:
                console.print(f"    └─ {c.candles_from_today:,} candles from today (limit: {MAX_CANDLES}) "
                              f"[red]✗[/red]")
                console.print(f"    └─ TOO OLD by {_plural(c.overflow_candles, 'candle')} "
                              f"({fmt_duration(c.overflow_candles * g.interval_minutes)})")
            console.print(f"    → ACTION: Download CSV from Kraken for {fmt_time(g.start, g.interval_minutes)} "
                          f"to {fmt_time(g.end, g.interval_minutes)}")
        _more(console, items[max_per_series:], gap_of)
        console.print()
    if not unfillable:
        console.print("No unfillable gaps.")
        console.print()
    no_api = sum(1 for c in unfillable if c.reason == REASON_NO_API_INTERVAL)
    console.print(f"Summary: {_plural(len(unfillable), 'unfillable gap')}")
    if no_api:
        console.print(f"  → {_plural(no_api, 'gap')} on intervals the REST API does not offer (720 min: archive only)")
    if unfillable:
        console.print("  → Requires CSV export or alternative data source")
        console.print(f"  → Kraken CSV export: {KRAKEN_CSV_URL}")
    console.print()

    if confirmed_empty:
        _section(console, "ℹ️  [bold]CONFIRMED EMPTY[/bold] (Kraken has no candle either: no trades, not data loss)")
        for first, items in _by_series(confirmed_empty, _plain, assets):
            _block_header(console, first, items, _plain, assets)
            for g in items[:max_per_series]:
                _gap_line(console, "·", "dim", g)
            _more(console, items[max_per_series:], _plain)
            console.print()
        total = sum(g.missing_candles for g in confirmed_empty)
        console.print(f"Summary: {_plural(len(confirmed_empty), 'confirmed-empty range')}, "
                      f"{total:,} candles (not reported as gaps)")
        console.print()
    console.print(HEAVY)
    console.print()


def _gap_of(c: ClassifiedGap) -> Gap:
    return c.gap


def _plain(g: Gap) -> Gap:
    return g


def write_unfillable_csv(file: IO[str], classified: Iterable[ClassifiedGap], assets: Mapping[int, AssetLabel]) -> int:
    """The reference's CSV of unfillable gaps; returns the number of rows written."""
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = sorted((c for c in classified if not c.fillable), key=lambda c: _sort_key(c.gap, assets))
    for c in rows:
        g = c.gap
        label = _label(g.asset_id, g.quote_currency, assets)
        name = label.ticker if g.quote_currency == label.quote_currency else f"{label.ticker}/{g.quote_currency}"
        writer.writerow([name,
                         label.tier, g.interval_minutes, csv_time(g.start, g.interval_minutes),
                         csv_time(g.end, g.interval_minutes), g.missing_candles, c.candles_from_today,
                         c.overflow_candles])
    return len(rows)


def one_line(classified: Sequence[ClassifiedGap], confirmed_empty: Sequence[Gap],
             results: Sequence[FillResult] | None) -> str:
    """The run in one line (``--verbosity 0``): gaps found, and what the backfill did when there was one."""
    fillable = sum(1 for c in classified if c.fillable)
    line = (f"{len(classified):,} gaps ({fillable:,} API-fillable, {len(classified) - fillable:,} unfillable), "
            f"{len(confirmed_empty):,} confirmed-empty ranges")
    if results is None:
        return line + "; nothing backfilled"
    counts = defaultdict(int)
    for r in results:
        counts[r.status] += 1
    done = ", ".join(f"{counts[s]:,} {s}" for s in (FILLED, PARTLY_FILLED, CONFIRMED_EMPTY, NOT_FILLED, FAILED)
                     if counts[s])
    return f"{line}; backfill: {done or 'nothing to do'}"


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
