from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.samples import build_demo_archive


class Command(BaseCommand):
    help = ("Write a sample Kraken OHLCVT archive (real excerpts plus generated pairs over several intervals, "
            "with no-trade gaps) into the data directory, for the demo.")

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", type=Path, help="Where to write (default: settings.KRAKEN_DATA_DIR)")

    def handle(self, *args, data_dir, **options):
        out = Path(data_dir or settings.KRAKEN_DATA_DIR)
        files, rows = build_demo_archive(out)
        self.stdout.write(f"Wrote {files} OHLCVT files ({rows:,} candles) under {out}")
