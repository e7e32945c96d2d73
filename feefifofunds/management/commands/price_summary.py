from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.table import Table

from feefifofunds.models import Asset
from feefifofunds.store import client
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.coverage import series_coverage


class Command(BaseCommand):
    help = "Show what the price store holds: candles, first and last candle per asset, quote and interval."

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")
        parser.add_argument("--ticker", action="append", type=str.upper, help="Only these tickers (repeatable)")

    def handle(self, *args, database, ticker, **options):
        assets = Asset.objects.all()
        if ticker:
            assets = assets.filter(ticker__in=ticker)
        by_id = {a.pk: a for a in assets}
        try:
            series = [s for s in series_coverage(alias=database) if s.asset_id in by_id]
        except client.QuestDBError as exc:
            raise CommandError(str(exc)) from None
        console = Console(file=self.stdout, width=None if self.stdout.isatty() else 120)
        table = Table(title="Stored candles")
        for col, justify in (("asset", "left"), ("tier", "left"), ("quote", "left"), ("interval", "right"),
                             ("source", "left"), ("candles", "right"), ("first", "left"), ("last", "left")):
            table.add_column(col, justify=justify)
        total = 0
        for s in series:
            asset = by_id.get(s.asset_id)
            if asset is None:
                continue
            total += s.candles
            table.add_row(asset.ticker, asset.tier or "-", s.quote_currency, f"{s.interval_minutes} min", s.source,
                          f"{s.candles:,}", f"{s.first:%Y-%m-%d %H:%M}", f"{s.last:%Y-%m-%d %H:%M}")
        console.print(table)
        console.print(f"{len(series)} series, {total:,} candles, {len(by_id)} assets in the catalog")
