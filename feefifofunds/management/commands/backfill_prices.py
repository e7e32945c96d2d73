from contextlib import nullcontext
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from feefifofunds.cli.api import run_command
from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.console import check_binding, locked
from feefifofunds.ingestion import api_loader
from feefifofunds.ingestion.api_loader import LoadError
from feefifofunds.ingestion.writer import WriteError
from feefifofunds.models import Asset
from feefifofunds.store.client import QuestDBError
from feefifofunds.store.config import DEFAULT_ALIAS


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD format: {text!r}") from None


class Command(BaseCommand):
    help = (
        "Backfill historical candles from an API source (Massive.com or Finnhub) for one asset or all active "
        "assets. Keys: MASSIVE_API_KEY / FINNHUB_API_KEY."
    )

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, choices=api_loader.API_SOURCES,
                            help="Data source: massive (stocks, ETFs, crypto, fx) or finnhub (stocks, crypto, forex)")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--ticker", help="Single asset ticker in the catalog")
        which.add_argument("--all", action="store_true", dest="all_assets", help="All active assets")
        parser.add_argument("--days", type=int, help="Number of days to backfill, up to today")
        parser.add_argument("--start", type=iso_date, help="Start date (YYYY-MM-DD)")
        parser.add_argument("--end", type=iso_date, help="End date, inclusive (YYYY-MM-DD, default: today)")
        parser.add_argument("--category", type=str.upper, choices=Asset.Category.values,
                            help="Only assets of this category (with --all)")
        parser.add_argument("--grouped", action="store_true",
                            help="Massive only, requires --all: one grouped-daily call per day (per market) for "
                                 "all assets instead of one call per asset")
        parser.add_argument("--interval", type=int, default=api_loader.DEFAULT_INTERVAL,
                            help=f"Candle interval in minutes (default: 1440, daily). "
                                 f"{api_loader.intervals_help()}")
        parser.add_argument("--gaps", action="store_true",
                            help="Fetch only the candles missing in the range: the sessions the asset's calendar "
                                 "expects (24/7 for crypto) that the store lacks, one request per run of missing "
                                 "sessions (with --grouped: one call per missing session date); says what is "
                                 "still missing")
        parser.add_argument("--dry-run", action="store_true", help="Preview the candles without saving them")
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")

    def handle(self, *args, source, ticker, all_assets, days, start, end, category, grouped, interval, gaps,
               dry_run, database, verbosity, **options):
        try:
            with nullcontext() if dry_run else locked(database):  # a dry run writes nothing
                check_binding(database)
                result = run_command(self.stdout, source_name=source, ticker=ticker, all_assets=all_assets,
                                     category=category, days=days, start=start, end=end,
                                     interval_minutes=interval, grouped=grouped, dry_run=dry_run, alias=database,
                                     verbosity=verbosity, gaps=gaps)
        except (LoadError, WriteError, QuestDBError) as exc:
            raise CommandError(str(exc)) from None
        if result.aborted:
            raise CommandError(result.aborted)
        if result.failures:
            raise CommandError(f"{len(result.failures)} failed: " + ", ".join(label for label, _ in result.failures))
