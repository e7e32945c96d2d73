from django.core.management.base import BaseCommand, CommandError

from feefifofunds.calendars import CalendarError
from feefifofunds.catalog import UnknownAsset, set_calendar


class Command(BaseCommand):
    help = ("Change the trading calendar of an existing asset (24/7, 24/5 or an exchange code such as XNYS); its "
            "gaps, open-gap counts and cached answers follow the new calendar from the next request on.")

    def add_arguments(self, parser):
        parser.add_argument("--ticker", required=True, help="Asset ticker in the catalog")
        parser.add_argument("--exchange", required=True, help="24/7, 24/5 or an exchange code (XNYS, XLON, ...)")

    def handle(self, *args, ticker, exchange, **options):
        try:
            asset, before = set_calendar(ticker, exchange)
        except (CalendarError, UnknownAsset) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"✅ {asset.ticker}: calendar {before} -> {asset.calendar}"))
