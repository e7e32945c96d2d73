from django.core.management.base import BaseCommand, CommandError

from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.version import heading, render
from feefifofunds.store import client
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.version import check_build


class Command(BaseCommand):
    help = "Check the QuestDB version to verify DEDUP support (requires 7.3+)."

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_ALIAS,
                            help=f"QuestDB alias to check (default: {DEFAULT_ALIAS})")

    def handle(self, *args, database, **options):
        try:
            build = client.server_build(database)
            check = check_build(build)
        except client.QuestDBError as exc:
            self.stdout.write(heading())
            raise CommandError(f"❌ {exc}\n   Is QuestDB running? Start one with: make services") from None
        self.stdout.write(render(check))
        if not check.supports_dedup:
            raise CommandError(f"QuestDB {check.version} does not support DEDUP (7.3+ required)")
