from django.core.management.base import BaseCommand, CommandError

from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.console import check_binding, make_console
from feefifofunds.cli.coverage import render_coverage
from feefifofunds.gaps.summary import open_gap_counts, open_gaps_of
from feefifofunds.models import Asset
from feefifofunds.store import client
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.coverage import series_coverage, store_version


class Command(BaseCommand):
    help = ("Show what the price store holds: candles, first and last candle and open gaps (judged by each asset's "
            "calendar) per asset, quote and interval.")

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")
        parser.add_argument("--ticker", action="append", type=str.upper, help="Only these tickers (repeatable)")

    def handle(self, *args, database, ticker, **options):
        check_binding(database)
        assets = Asset.objects.all()
        if ticker:
            assets = assets.filter(ticker__in=ticker)
        by_id = {a.pk: a for a in assets}
        try:
            version = store_version(alias=database)
            series = [s for s in series_coverage(alias=database, version=version) if s.asset_id in by_id]
            if ticker:  # only the series shown are scanned
                open_gaps = open_gaps_of(series, alias=database, version=version)
            else:
                open_gaps = open_gap_counts(alias=database, version=version)
        except client.QuestDBError as exc:
            raise CommandError(str(exc)) from None
        render_coverage(make_console(self.stdout), series, by_id, open_gaps)
