from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from feefifofunds.calendars import DEFAULT_BY_CATEGORY, CalendarError, check_calendar
from feefifofunds.catalog import AssetExists, create_asset
from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.models import Asset

DEFAULTS = ", ".join(f"{category} {code}" for category, code in DEFAULT_BY_CATEGORY.items())


class Command(BaseCommand):
    help = "Create a new asset record in the catalog database."

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--ticker", required=True, help="Asset ticker symbol (e.g. BTC, AAPL, GLD)")
        parser.add_argument("--name", required=True, help="Full asset name")
        parser.add_argument("--category", required=True, choices=Asset.Category.values,
                            type=str.upper, help="Asset category")
        parser.add_argument("--quote-currency", default="USD", help="Currency for pricing (default: USD)")
        parser.add_argument("--description", default="", help="Optional asset description")
        parser.add_argument("--exchange", default="",
                            help=f"Trading calendar that gaps are judged by: 24/7, 24/5 or an exchange code such as "
                                 f"XNYS (default by category: {DEFAULTS})")

    def handle(self, *args, ticker, name, category, quote_currency, description, exchange, **options):
        try:
            calendar = check_calendar(exchange) if exchange else ""
            asset = create_asset(ticker=ticker, name=name, category=category, quote_currency=quote_currency,
                                 description=description, calendar=calendar)
        except (CalendarError, AssetExists) as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
            raise CommandError(f"invalid asset: {messages}") from None
        self.stdout.write(self.style.SUCCESS(f"✅ Created asset {asset.ticker}"))
        for label, value in (("Name", asset.name), ("Category", asset.category),
                             ("Quote currency", asset.quote_currency), ("Calendar", asset.calendar),
                             ("Active", "yes" if asset.active else "no"),
                             ("Description", asset.description or "-"), ("ID", asset.pk)):
            self.stdout.write(f"   {label + ':':<16}{value}")
