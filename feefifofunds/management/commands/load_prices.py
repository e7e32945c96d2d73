from contextlib import nullcontext

from django.core.management.base import BaseCommand, CommandError

from feefifofunds.cli.api import run_command
from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.console import check_binding, locked
from feefifofunds.ingestion import api_loader
from feefifofunds.ingestion.api_loader import LoadError
from feefifofunds.ingestion.writer import WriteError
from feefifofunds.store.client import QuestDBError
from feefifofunds.store.config import DEFAULT_ALIAS


class Command(BaseCommand):
    help = (
        "Load recent candles of one asset from an API source (Massive.com or Finnhub) into QuestDB. "
        "Keys: MASSIVE_API_KEY / FINNHUB_API_KEY. The asset must exist (create_asset)."
    )

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--ticker", required=True, help="Asset ticker in the catalog (e.g. AAPL, BTC)")
        parser.add_argument("--source", required=True, choices=api_loader.API_SOURCES,
                            help="Data source: massive (stocks, ETFs, crypto, fx) or finnhub (stocks, crypto, forex)")
        parser.add_argument("--days", type=int, default=7, help="Number of days to fetch, up to today (default: 7)")
        parser.add_argument("--interval", type=int, default=api_loader.DEFAULT_INTERVAL,
                            help=f"Candle interval in minutes (default: 1440, daily). "
                                 f"{api_loader.intervals_help()}")
        parser.add_argument("--dry-run", action="store_true", help="Preview the candles without saving them")
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")

    def handle(self, *args, ticker, source, days, interval, dry_run, database, verbosity, **options):
        try:
            with nullcontext() if dry_run else locked(database):  # a dry run writes nothing
                check_binding(database)
                result = run_command(self.stdout, source_name=source, ticker=ticker, days=days,
                                     interval_minutes=interval, dry_run=dry_run, alias=database,
                                     verbosity=verbosity)
        except (LoadError, WriteError, QuestDBError) as exc:
            raise CommandError(str(exc)) from None
        if not result.ok:
            raise CommandError(result.aborted or f"{ticker.upper()} failed: {result.failures[0][1]}")
