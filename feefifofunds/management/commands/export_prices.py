"""Export candles of one series to Parquet or CSV (streamed in batches from QuestDB)."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from feefifofunds.cli.checks import WITHOUT_URLS
from feefifofunds.cli.console import check_binding
from feefifofunds.export import DEFAULT_CHUNK_ROWS, FORMATS, ExportError, ExportRequest, export_prices
from feefifofunds.store.client import QuestDBError
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.timeframes import INTERVALS, parse_utc


def _time(name: str):
    def parse(value: str):
        try:
            return parse_utc(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"--{name}: {exc}") from None

    return parse


class Command(BaseCommand):
    help = "Export stored candles (one ticker, interval and quote currency) to Parquet or CSV, streamed in batches."

    requires_system_checks = WITHOUT_URLS

    def add_arguments(self, parser):
        parser.add_argument("output", help="Output file (.parquet or .csv, or give --format); its folder must exist")
        parser.add_argument("--ticker", required=True)
        parser.add_argument("--interval", type=int, required=True, choices=INTERVALS, help="Minutes")
        parser.add_argument("--quote-currency",
                            help="Default: the quote currency the series exists in (USD first when several)")
        parser.add_argument("--source", help="Only this source (default: every source of the series)")
        parser.add_argument("--start", type=_time("start"), help="Inclusive, ISO 8601 (UTC when naive)")
        parser.add_argument("--end", type=_time("end"), help="Exclusive, ISO 8601 (UTC when naive)")
        parser.add_argument("--format", choices=FORMATS, help="Default: from the output file's extension")
        parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                            help=f"Rows read from QuestDB per query (default {DEFAULT_CHUNK_ROWS})")
        parser.add_argument("--database", default=DEFAULT_ALIAS, help=f"QuestDB alias (default: {DEFAULT_ALIAS})")

    def handle(self, *args, **opts):
        if opts["chunk_rows"] < 1:
            raise CommandError("--chunk-rows must be at least 1")
        check_binding(opts["database"])
        request = ExportRequest(
            ticker=opts["ticker"], interval_minutes=opts["interval"], quote_currency=opts["quote_currency"],
            source=opts["source"], start=opts["start"], end=opts["end"],
        )
        try:
            n = export_prices(request, opts["output"], fmt=opts["format"], chunk_rows=opts["chunk_rows"],
                              alias=opts["database"])
        except (ExportError, QuestDBError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Exported {n} candles to {opts['output']}")
