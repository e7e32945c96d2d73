"""Export stored candles to Parquet or CSV, streamed from QuestDB in batches (bounded memory).

Rows are read by keyset pagination on time (``store.coverage.iter_candles``), one source at a time, and each batch
is written at once (a Parquet row group, or CSV lines), so memory holds one batch however long the series.
The file is written beside the target and renamed into place once complete: a failed export leaves nothing.
Domain code: it reads the store (``feefifofunds.store``), never the web layer.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from feefifofunds.models import Asset
from feefifofunds.store import arrow, coverage
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.timeframes import INTERVALS

FORMATS = ("parquet", "csv")
DEFAULT_CHUNK_ROWS = 100_000

EXPORT_SCHEMA = pa.schema([
    ("time", pa.timestamp("us", tz="UTC")),
    ("ticker", pa.string()),
    ("quote_currency", pa.string()),
    ("interval_minutes", pa.int32()),
    ("source", pa.string()),
    *arrow.PRICE_FIELDS,
])


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class ExportRequest:
    ticker: str
    interval_minutes: int
    quote_currency: str | None = None
    source: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def format_for(path: Path, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower()
    else:
        fmt = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}.get(path.suffix.lower(), "")
    if fmt not in FORMATS:
        raise ExportError(f"cannot tell the format of {path.name!r}: use --format parquet or csv")
    return fmt


def _nan_to_none(value):
    return None if isinstance(value, float) and value != value else value


def check_output(path: Path) -> None:
    """Refuse, before anything is read or written, an output path that cannot become a file."""
    if path.is_dir():
        raise ExportError(f"{path} is a directory: give a file name, e.g. {path / 'prices.parquet'}")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist")


def choose_quote(asset: Asset, interval_minutes: int, quote_currency: str | None, *,
                 alias: str = DEFAULT_ALIAS) -> str:
    """The quote currency asked for; else the series that exists (``coverage.default_quote``)."""
    if quote_currency:
        return quote_currency.strip().upper()
    return coverage.default_quote(coverage.series_coverage(asset_id=asset.pk, alias=alias), interval_minutes,
                                  None, asset.quote_currency)


def iter_export_batches(request: ExportRequest, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, alias: str = DEFAULT_ALIAS):
    """(asset, quote, source, rows) batches of the selection, in (source, time) order."""
    if request.interval_minutes not in INTERVALS:
        raise ExportError(f"interval must be one of {', '.join(map(str, INTERVALS))}")
    if request.start and request.end and request.end <= request.start:
        raise ExportError("end must be after start")
    try:
        asset = Asset.objects.get(ticker=request.ticker.strip().upper())
    except Asset.DoesNotExist:
        raise ExportError(f"no asset with ticker {request.ticker.strip().upper()!r}") from None
    quote = choose_quote(asset, request.interval_minutes, request.quote_currency, alias=alias)
    sources = [request.source] if request.source else coverage.sources_of(asset.pk, request.interval_minutes, quote,
                                                                           alias=alias)
    for source in sources:
        for rows in coverage.iter_candles(asset.pk, request.interval_minutes, quote, source=source,
                                          start=request.start, end=request.end, chunk_rows=chunk_rows, alias=alias):
            yield asset, quote, source, rows


def _table(asset, quote, source, interval, rows) -> pa.Table:
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    return pa.Table.from_arrays([
        pa.array(cols[0], pa.timestamp("us", tz="UTC")),
        pa.array([asset.ticker] * n, pa.string()),
        pa.array([quote] * n, pa.string()),
        pa.array([interval] * n, pa.int32()),
        pa.array([source] * n, pa.string()),
        *[pa.array([_nan_to_none(v) for v in cols[i]], pa.float64()) for i in range(1, 6)],
        pa.array(cols[6], pa.int64()),
        pa.array([_nan_to_none(v) for v in cols[7]], pa.float64()),
    ], schema=EXPORT_SCHEMA)


def export_prices(request: ExportRequest, path: str | Path, *, fmt: str | None = None,
                  chunk_rows: int = DEFAULT_CHUNK_ROWS, alias: str = DEFAULT_ALIAS) -> int:
    """Write the selection to ``path``; returns the number of candles written (an empty file when none).

    The file is written beside the target and renamed into place once complete.
    """
    path = Path(path)
    check_output(path)
    fmt = format_for(path, fmt)
    tmp = path.with_name(f".{path.name}.partial")
    written = 0
    try:
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, EXPORT_SCHEMA, compression="zstd") as writer:
                for asset, quote, source, rows in iter_export_batches(request, chunk_rows=chunk_rows, alias=alias):
                    writer.write_table(_table(asset, quote, source, request.interval_minutes, rows))
                    written += len(rows)
        else:
            with tmp.open("w", newline="", encoding="utf-8") as fh:
                out = csv.writer(fh)
                out.writerow(EXPORT_SCHEMA.names)
                for asset, quote, source, rows in iter_export_batches(request, chunk_rows=chunk_rows, alias=alias):
                    out.writerows(
                        [_csv_time(r[0]), asset.ticker, quote, request.interval_minutes, source,
                         *[_csv_value(v) for v in r[1:]]]
                        for r in rows
                    )
                    written += len(rows)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def _csv_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _csv_value(value) -> object:
    value = _nan_to_none(value)
    return "" if value is None else repr(value) if isinstance(value, float) else value
