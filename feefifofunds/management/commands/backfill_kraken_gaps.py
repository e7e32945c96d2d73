"""Detect gaps in Kraken candle series (between stored candles and after the last one) and fill them: from the
OHLC endpoint where it still holds them, from Kraken's trade history beyond, within a budget per run.

The work is in ``feefifofunds.gaps`` (``run.survey`` then ``run.execute``), what it prints in
``feefifofunds.cli.gaps``; this command parses options, asks before filling and decides the exit code.
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from feefifofunds.cli import gaps as show
from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.console import add_confirm_arguments, check_binding, confirm, locked, make_console
from feefifofunds.gaps.plan import METHODS
from feefifofunds.gaps.run import Outcome, Survey, SurveyError, execute, survey
from feefifofunds.gaps.scope import ScopeError, resolve_scope
from feefifofunds.gaps.trades_fill import Budget
from feefifofunds.gcpause import paused_gc
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

    requires_system_checks = WITHOUT_URLS

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
        with nullcontext() if report_only else locked(options["database"]):
            check_binding(options["database"])
            with KrakenRestSource.from_settings() as source:
                console = make_console(self.stdout, options["verbosity"])
                rate = source.rate_per_second
                limits = {"rate_per_second": rate, "max_requests": options["max_requests"],
                          "max_minutes": options["max_minutes"]}
                budget = Budget(options["max_requests"], options["max_minutes"])
                budget.spend_on(source)  # the survey's pair lookup counts too
                with paused_gc():  # hundreds of thousands of gaps at the archive's size
                    found = self._survey(source, options, rate)
                    show.render_survey(console, found, show_unfillable_only=options["show_unfillable_only"])
                    if options["export_unfillable"]:
                        show.export_unfillable(console, Path(options["export_unfillable"]), found)
                if report_only:
                    show.render_report_only(console, self.stdout, found, dry_run=options["dry_run"], **limits)
                    return
                if not found.plan.to_fill:
                    show.render_nothing_to_fill(console, self.stdout, found)
                    return
                show.render_plan(console, found.plan, **limits)
                if not confirm(f"Proceed with backfilling {found.plan.to_fill:,} gaps? [y/N]: ",
                               yes=options["yes"], stdin=options.get("stdin"), stdout=self.stdout,
                               refusal=f"refusing to backfill {found.plan.to_fill} gaps without confirmation"):
                    show.render_cancelled(console)
                    return
                outcome = self._fill(console, found, source, budget, options)
                show.render_outcome(console, self.stdout, found, outcome, requests_made=budget.used,
                                    max_requests=options["max_requests"])
        if outcome.failed:
            total = len(outcome.ohlc) + len(outcome.walks)
            raise CommandError(f"{len(outcome.failed)} of {total} gap fills failed (listed above)")

    def _survey(self, source: KrakenRestSource, options, rate: float) -> Survey:
        try:
            scope = resolve_scope(options["tier"], options["asset"])
            return survey(scope, source, now=options.get("now") or datetime.now(UTC), alias=options["database"],
                          interval=options["interval"], quote=options["quote"], since=options["since"],
                          method=options["method"], max_requests=options["max_requests"],
                          max_minutes=options["max_minutes"], rate_per_second=rate)
        except (ScopeError, SurveyError, QuestDBError) as exc:
            raise CommandError(str(exc)) from None

    def _fill(self, console, found: Survey, source: KrakenRestSource, budget: Budget, options) -> Outcome:
        try:
            with show.FillProgress(console, found, budget, max_requests=options["max_requests"]) as progress:
                return execute(found.plan, found.labels, source, budget, alias=options["database"],
                               on_series=progress.series, on_page=progress.page)
        except (QuestDBError, SourceError) as exc:
            raise CommandError(f"backfill stopped: {exc}") from None
