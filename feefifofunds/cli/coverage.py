"""What ``price_summary`` prints: the stored series as a table, then the totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

from feefifofunds.models import Asset
from feefifofunds.store.coverage import SeriesCoverage
from feefifofunds.store.kept import NOT_BUILT
from feefifofunds.store.series import SeriesKey

COLUMNS = (("asset", "left"), ("tier", "left"), ("quote", "left"), ("interval", "right"), ("source", "left"),
           ("candles", "right"), ("first", "left"), ("last", "left"), ("open gaps", "right"))


def render_coverage(console: Console, series: Sequence[SeriesCoverage], assets: Mapping[int, Asset],
                    open_gaps: Mapping[SeriesKey, int] | None) -> None:
    """One row per series of a catalog asset, with its open gaps (judged by the asset's calendar; ``None``:
    not built yet, said below the table). Printed
    without soft wrap: the table's title is centred over it and the totals line wraps at the console's width."""
    table = Table(title="Stored candles")
    for col, justify in COLUMNS:
        table.add_column(col, justify=justify)
    total = 0
    for s in series:
        asset = assets.get(s.asset_id)
        if asset is None:
            continue
        total += s.candles
        table.add_row(asset.ticker, asset.tier or "-", s.quote_currency, f"{s.interval_minutes} min", s.source,
                      f"{s.candles:,}", f"{s.first:%Y-%m-%d %H:%M}", f"{s.last:%Y-%m-%d %H:%M}",
                      "-" if open_gaps is None else f"{open_gaps.get(s.key, 0):,}")
    console.print(table, soft_wrap=False)
    if open_gaps is None:
        console.print(f"open gaps: {NOT_BUILT}", soft_wrap=False)
    console.print(f"{len(series)} series, {total:,} candles, {len(assets)} assets in the catalog", soft_wrap=False)
