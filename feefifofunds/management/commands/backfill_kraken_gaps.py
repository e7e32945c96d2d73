"""Detect gaps in Kraken candle series and fill the recent ones from Kraken's REST API.

The work is in ``feefifofunds.gaps``; this command parses options, asks before filling and renders.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from feefifofunds.console import add_confirm_arguments, confirm, locked, make_console, summary
from feefifofunds.gaps.backfill import backfill, failures
from feefifofunds.gaps.classify import classify
from feefifofunds.gaps.detection import detect_gaps, list_series, split_confirmed_empty
from feefifofunds.gaps.report import one_line, render_report, render_results, write_unfillable_csv
from feefifofunds.gaps.scope import ScopeError, resolve_scope
from feefifofunds.sources.kraken_rest import KrakenRestSource
from feefifofunds.store.client import QuestDBError
from feefifofunds.tiers import TIER_CHOICES


def _positive_int(value: str) -> int:
    import argparse

    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of minutes: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("the interval must be a positive number of minutes")
    return number


class Command(BaseCommand):
    help = ("Detect gaps in Kraken price data in QuestDB, classify them against the REST API's 720-candle "
            "limit, and backfill the API-fillable ones.")
    # For tests: the input stream of the prompt, and a fixed "now".
    stealth_options = ("stdin", "now")

    def add_arguments(self, parser):
        parser.add_argument("--tier", action="append", type=str.upper, choices=[*TIER_CHOICES, "ALL"],
                            help="Filter by asset tier (repeatable: --tier TIER1 --tier TIER2; ALL: no filter)")
        parser.add_argument("--asset", help="Filter by asset ticker (e.g. BTC)")
        parser.add_argument("--interval", type=_positive_int, help="Filter by interval in minutes (e.g. 60, 1440)")
        add_confirm_arguments(parser)
        parser.add_argument("--dry-run", action="store_true", help="Only detect and report gaps; write nothing")
        parser.add_argument("--show-unfillable-only", action="store_true",
                            help="Only show gaps beyond the 720-candle limit (report only, no backfill)")
        parser.add_argument("--export-unfillable", metavar="FILE",
                            help="Write unfillable gaps to this CSV file (dates YYYY-MM-DD for daily candles, "
                                 "YYYY-MM-DDTHH:MM UTC for intraday)")
        parser.add_argument("--database", default="questdb", help="QuestDB alias (default: questdb)")

    def handle(self, *args, **options):
        report_only = options["dry_run"] or options["show_unfillable_only"]
        # Only a run that may write takes the store lock; a report reads and may run beside a writer.
        with nullcontext() if report_only else locked(options["database"], self.stderr):
            self._run(options, report_only)

    def _run(self, options, report_only: bool) -> None:
        console = make_console(self.stdout, options["verbosity"])
        now = options.get("now") or datetime.now(UTC)
        alias = options["database"]
        intervals = [options["interval"]] if options["interval"] else None
        try:
            scope = resolve_scope(options["tier"], options["asset"])
            series = list_series(alias, asset_ids=scope.asset_ids, intervals=intervals)
            gaps = detect_gaps(alias, asset_ids=scope.asset_ids, intervals=intervals)
        except (ScopeError, QuestDBError) as exc:
            raise CommandError(str(exc)) from None
        real, confirmed_empty = split_confirmed_empty(gaps)
        classified = classify(real, now)
        labels = scope.labels_for({s.asset_id for s in series} | {g.asset_id for g in gaps})
        render_report(console, classified, confirmed_empty, labels,
                      assets_scanned=len({s.asset_id for s in series}), series_scanned=len(series),
                      show_unfillable_only=options["show_unfillable_only"])

        if options["export_unfillable"]:
            path = Path(options["export_unfillable"])
            try:
                with path.open("w", newline="", encoding="utf-8") as fh:
                    n = write_unfillable_csv(fh, classified, labels)
            except OSError as exc:
                raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
            console.print(f"Exported {n:,} unfillable {'gap' if n == 1 else 'gaps'} to {path}", markup=False)

        fillable = [c for c in classified if c.fillable]
        if report_only:
            console.print("Dry run: nothing was backfilled." if options["dry_run"] else
                          "Report only (--show-unfillable-only): nothing was backfilled.")
            summary(console, self.stdout, one_line(classified, confirmed_empty, None))
            return
        if not fillable:
            console.print("Nothing to backfill.")
            summary(console, self.stdout, one_line(classified, confirmed_empty, []))
            return
        if not confirm(f"Proceed with backfilling {len(fillable):,} API-available gaps? [y/N]: ",
                       yes=options["yes"], stdin=options.get("stdin"), stdout=self.stdout,
                       refusal=f"refusing to backfill {len(fillable)} gaps without confirmation"):
            console.print("Backfill cancelled: nothing was written.")
            return

        def progress(series_key, series_gaps, error):
            label = labels.get(series_key[0])
            name = label.ticker if label else f"#{series_key[0]}"
            state = f"[red]failed: {error}[/red]" if error else "[green]fetched[/green]"
            console.print(f"  {name}/{series_key[1]} {series_key[2]} min ({len(series_gaps)} gaps): {state}")

        console.print(f"Backfilling {len(fillable):,} gaps from the Kraken REST API...")
        with KrakenRestSource.from_settings() as source:
            results = backfill(fillable, {k: v.ticker for k, v in labels.items()}, source, alias=alias,
                               on_series=progress)
        render_results(console, results, labels)
        summary(console, self.stdout, one_line(classified, confirmed_empty, results))
        failed = failures(results)
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} gaps failed (listed above)")
