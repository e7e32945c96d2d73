"""Export candles of one series to Parquet or CSV (streamed in chunks from QuestDB)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from feefifofunds.export import DEFAULT_CHUNK_ROWS, FORMATS, ExportError, ExportRequest, export_prices
from feefifofunds.store import coverage
from feefifofunds.store.client import QuestDBError
from feefifofunds.web.api import ApiError, parse_time


def _time(name: str):
    def parse(value: str):
        try:
            return parse_time(value.strip(), name)
        except ApiError as exc:
            raise ValueError(exc.message) from None

    parse.__name__ = f"ISO 8601 {name}"
    return parse


class Command(BaseCommand):
    help = "Export stored candles (one ticker, interval and quote currency) to Parquet or CSV, streamed in chunks."

    def add_arguments(self, parser):
        parser.add_argument("output", help="Output file (.parquet or .csv, or give --format)")
        parser.add_argument("--ticker", required=True)
        parser.add_argument("--interval", type=int, required=True, choices=coverage.INTERVALS, help="Minutes")
        parser.add_argument("--quote-currency", help="Default: the asset's quote currency")
        parser.add_argument("--source", help="Only this source (default: every source of the series)")
        parser.add_argument("--start", type=_time("start"), help="Inclusive, ISO 8601 (UTC when naive)")
        parser.add_argument("--end", type=_time("end"), help="Exclusive, ISO 8601 (UTC when naive)")
        parser.add_argument("--format", choices=FORMATS, help="Default: from the output file's extension")
        parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                            help=f"Rows read from QuestDB per query (default {DEFAULT_CHUNK_ROWS})")
        parser.add_argument("--database", default="questdb", help="QuestDB alias (default questdb)")

    def handle(self, *args, **opts):
        if opts["chunk_rows"] < 1:
            raise CommandError("--chunk-rows must be at least 1")
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
