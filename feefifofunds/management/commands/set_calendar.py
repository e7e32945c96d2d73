from django.core.management.base import BaseCommand, CommandError

from feefifofunds.calendars import CalendarError
from feefifofunds.catalog import UnknownAsset, set_calendar
from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.console import locked
from feefifofunds.store import kept
from feefifofunds.store.config import DEFAULT_ALIAS


class Command(BaseCommand):
    help = ("Change the trading calendar of an existing asset (24/7, 24/5 or an exchange code such as XNYS); its "
            "kept gaps are judged again by the new calendar, and every answer follows it from the next request on.")

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--ticker", required=True, help="Asset ticker in the catalog")
        parser.add_argument("--exchange", required=True, help="24/7, 24/5 or an exchange code (XNYS, XLON, ...)")
        parser.add_argument("--database", default=DEFAULT_ALIAS, help="QuestDB alias whose kept gaps follow")

    def handle(self, *args, ticker, exchange, database, **options):
        with locked(database, command="set_calendar"):  # the kept gaps are rewritten: not beside a writer
            try:
                asset, before = set_calendar(ticker, exchange)
            except (CalendarError, UnknownAsset) as exc:
                raise CommandError(str(exc)) from None
            series = kept.rejudge([asset.pk], database)
        self.stdout.write(self.style.SUCCESS(f"✅ {asset.ticker}: calendar {before} -> {asset.calendar}"
                                             + (f" ({series} series judged again)" if series else "")))
