"""Detect gaps in Kraken candle series (between stored candles and after the last one) and fill them: from the
OHLC endpoint where it still holds them, from Kraken's trade history beyond, within a budget per run.

The work is in ``feefifofunds.gaps`` (``run.survey`` then ``run.execute``); this command parses options, shows
the plan, asks before filling and renders.
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from feefifofunds.console import add_confirm_arguments, confirm, locked, make_console, summary
from feefifofunds.gaps.backfill import failures
from feefifofunds.gaps.plan import METHODS
from feefifofunds.gaps.report import (
    one_line,
    render_plan,
    render_report,
    render_results,
    render_walks,
    write_unfillable_csv,
)
from feefifofunds.gaps.run import SurveyError, execute, survey
from feefifofunds.gaps.scope import ScopeError, resolve_scope
from feefifofunds.gaps.trades_fill import Budget
from feefifofunds.sources import SourceError
from feefifofunds.sources.kraken_rest import KrakenRestSource
from feefifofunds.store.client import QuestDBError
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.tiers import TIER_CHOICES
from feefifofunds.timeframes import parse_utc


def _positive(cast, what: str):
    def parse(value: str):
        try:
            number = cast(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {what}: {value!r}") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive {what}")
        return number

    return parse


def _date(value: str) -> datetime:
    try:
        return parse_utc(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (e.g. 2024-01-31 or 2024-01-31T12:00)") from None


class Command(BaseCommand):
    help = ("Detect gaps in Kraken price data in QuestDB (between stored candles, and from the last one up to now), "
            "show the plan, and fill them: from the OHLC endpoint within its 720-candle window, from Kraken's "
            "trade history beyond it.")
    # For tests: the input stream of the prompt, and a fixed "now".
    stealth_options = ("stdin", "now")

    def add_arguments(self, parser):
        parser.add_argument("--tier", action="append", type=str.upper, choices=[*TIER_CHOICES, "ALL"],
                            help="Filter by asset tier (repeatable: --tier TIER1 --tier TIER2; ALL: no filter)")
        parser.add_argument("--asset", help="Filter by asset ticker (e.g. BTC)")
        parser.add_argument("--interval", type=_positive(int, "whole number of minutes"),
                            help="Filter by interval in minutes (e.g. 60, 1440)")
        parser.add_argument("--quote", type=str.upper, help="Filter by quote currency (e.g. USD, EUR)")
        parser.add_argument("--method", choices=METHODS, default="auto",
                            help="auto (default): OHLC within its 720-candle window, trades beyond; ohlc: OHLC only; "
                                 "trades: every gap from trades")
        parser.add_argument("--since", type=_date, metavar="DATE",
                            help="Fill a series that has no data yet (with --asset and --interval) from DATE")
        parser.add_argument("--max-requests", type=_positive(int, "whole number"), default=1000,
                            help="Stop after this many requests to Kraken (default 1000); the rest is picked up "
                                 "by the next run")
        parser.add_argument("--max-minutes", type=_positive(float, "number of minutes"), default=30.0,
                            help="Stop after this many minutes (default 30); the rest is picked up by the next run")
        add_confirm_arguments(parser)
        parser.add_argument("--dry-run", action="store_true", help="Only detect and report gaps; write nothing")
        parser.add_argument("--show-unfillable-only", action="store_true",
                            help="Only show the gaps this run cannot fill (report only, no backfill)")
        parser.add_argument("--export-unfillable", metavar="FILE",
                            help="Write the unfillable gaps to this CSV file (dates YYYY-MM-DD for daily candles, "
                                 "YYYY-MM-DDTHH:MM UTC for intraday)")
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")

    def handle(self, *args, **options):
        report_only = options["dry_run"] or options["show_unfillable_only"]
        # Only a run that may write takes the store lock; a report reads and may run beside a writer.
        with nullcontext() if report_only else locked(options["database"], self.stderr):
            with KrakenRestSource.from_settings() as source:
                self._run(options, report_only, source)

    def _run(self, options, report_only: bool, source: KrakenRestSource) -> None:
        console = make_console(self.stdout, options["verbosity"])
        now = options.get("now") or datetime.now(UTC)
        alias = options["database"]
        rate = source.rate_per_second
        budget = Budget(options["max_requests"], options["max_minutes"])
        budget.spend_on(source)  # the survey's pair lookup counts too
        try:
            scope = resolve_scope(options["tier"], options["asset"])
            found = survey(scope, source, now=now, alias=alias, interval=options["interval"], quote=options["quote"],
                           since=options["since"], method=options["method"], max_requests=options["max_requests"],
                           max_minutes=options["max_minutes"], rate_per_second=rate)
        except (ScopeError, SurveyError, QuestDBError) as exc:
            raise CommandError(str(exc)) from None
        plan, labels = found.plan, found.labels
        render_report(console, plan, found.confirmed_empty, labels, assets_scanned=found.assets_scanned,
                      series_scanned=found.series_scanned, show_unfillable_only=options["show_unfillable_only"],
                      no_data=found.no_data)
        if found.pair_status_error:
            console.print(f"[yellow]Kraken's pair list could not be read ({found.pair_status_error}): delisted "
                          f"pairs are not told apart.[/yellow]", markup=True)

        if options["export_unfillable"]:
            path = Path(options["export_unfillable"])
            try:
                with path.open("w", newline="", encoding="utf-8") as fh:
                    n = write_unfillable_csv(fh, plan.unfillable_gaps(), labels)
            except OSError as exc:
                raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
            console.print(f"Exported {n:,} unfillable {'gap' if n == 1 else 'gaps'} to {path}", markup=False)

        to_fill = len(plan.ohlc) + sum(len(p.span.gaps) for p in plan.trades)
        if report_only:
            if options["dry_run"]:
                render_plan(console, plan, rate_per_second=rate, max_requests=options["max_requests"],
                            max_minutes=options["max_minutes"])
            console.print("Dry run: nothing was backfilled." if options["dry_run"] else
                          "Report only (--show-unfillable-only): nothing was backfilled.")
            summary(console, self.stdout, one_line(plan, found.confirmed_empty, None))
            return
        if not to_fill:
            console.print("Nothing to backfill.")
            summary(console, self.stdout, one_line(plan, found.confirmed_empty, []))
            return
        render_plan(console, plan, rate_per_second=rate, max_requests=options["max_requests"],
                    max_minutes=options["max_minutes"])
        if not confirm(f"Proceed with backfilling {to_fill:,} gaps? [y/N]: ",
                       yes=options["yes"], stdin=options.get("stdin"), stdout=self.stdout,
                       refusal=f"refusing to backfill {to_fill} gaps without confirmation"):
            console.print("Backfill cancelled: nothing was written.")
            return

        def progress(series_key, series_gaps, error):
            label = labels.get(series_key[0])
            name = label.ticker if label else f"#{series_key[0]}"
            state = f"[red]failed: {error}[/red]" if error else "[green]fetched[/green]"
            console.print(f"  {name}/{series_key[1]} {series_key[2]} min ({len(series_gaps)} gaps): {state}")

        console.print(f"Backfilling {to_fill:,} gaps from Kraken...")
        bar = Progress(TextColumn("[bold]trades"), BarColumn(), MofNCompleteColumn(), TextColumn("requests"),
                       TimeElapsedColumn(), console=console, disable=not console.is_terminal, transient=True)
        task = bar.add_task("trades", total=min(options["max_requests"], plan.trades_requests) or None)
        try:
            with bar:
                outcome = execute(plan, labels, source, budget, alias=alias, on_series=progress,
                                  on_page=lambda w: bar.update(task, completed=budget.used))
        except (QuestDBError, SourceError) as exc:
            raise CommandError(f"backfill stopped: {exc}") from None
        if outcome.ohlc:
            render_results(console, outcome.ohlc, labels)
        if outcome.walks:
            render_walks(console, outcome.walks, labels)
        console.print(f"Requests made: {budget.used:,} of {options['max_requests']:,} allowed.")
        summary(console, self.stdout, one_line(plan, found.confirmed_empty, outcome.ohlc, outcome.walks))
        failed = failures(outcome.ohlc) + [w for w in outcome.walks if w.error]
        if failed:
            total = len(outcome.ohlc) + len(outcome.walks)
            raise CommandError(f"{len(failed)} of {total} gap fills failed (listed above)")
