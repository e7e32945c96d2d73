"""The archive job in tests: a run over a data folder, and a writer that spoils one asset's rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from feefifofunds.catalog import asset_tiers
from feefifofunds.ingestion.archive import ingest_files
from feefifofunds.ingestion.writer import PriceWriter, SeriesColumns
from feefifofunds.models import Asset
from feefifofunds.sources.kraken_archive import discover


def run(data_dir: Path, *, tiers: set[str] | None = None, intervals: set[int] | None = None, **kw):
    files = discover(data_dir, intervals=intervals).files
    if tiers:
        known = asset_tiers({f.base for f in files})
        files = [f for f in files if known[f.base] in tiers]
    return ingest_files(files, ingested_dir=data_dir.parent / "ingested" / "ohlcv", **kw)


class UnserializableFor(PriceWriter):
    """The real writer and client, handed rows the client cannot serialize for one asset: ``trade_count``
    mixing integers and text (``mixed``) fails inside ``dataframe()``; all text is serialized, and the
    server then refuses the whole flush (a LONG column cannot take strings). Rows of several files sent
    together (``SeriesColumns``) are spoiled alike when the asset's rows are among them."""

    ticker = "ETH"
    values = "mixed"

    def spoils(self, asset_ids: pl.Series, times: pl.Series) -> bool:
        return Asset.objects.filter(pk__in=asset_ids.unique().to_list(), ticker=self.ticker).exists()

    def spoil(self, frame: pl.DataFrame) -> pl.DataFrame:
        n = frame.height
        bad = ["x"] * n if self.values == "text" else [1] * (n - 1) + ["x"]
        return frame.with_columns(pl.Series("trade_count", bad, dtype=pl.Object))

    def add(self, rows, series, *, tags=()):
        asset_ids = rows.get_column("asset_id") if isinstance(series, SeriesColumns) else pl.Series([series.asset_id])
        if self.spoils(asset_ids, rows.get_column("time")):
            rows = self.spoil(rows)
        return super().add(rows, series, tags=tags)
