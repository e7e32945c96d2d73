"""What the price store holds: per series (asset, interval, quote currency, source) its span and size.

Used by the dashboard, the JSON API and ``price_summary``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feefifofunds.timeframes import as_utc

from . import client, schema


@dataclass(frozen=True)
class SeriesCoverage:
    asset_id: int
    interval_minutes: int
    quote_currency: str
    source: str
    first: datetime
    last: datetime
    candles: int


def series_coverage(
    *, asset_id: int | None = None, alias: str = "questdb", table: str = schema.TABLE
) -> list[SeriesCoverage]:
    """First and last candle and candle count of every series (of one asset, or of all)."""
    sql = (
        "SELECT asset_id, interval_minutes, quote_currency, source, min(time), max(time), count() "
        f"FROM {table}"
    )
    params: list[object] = []
    if asset_id is not None:
        sql += " WHERE asset_id = %s"
        params.append(int(asset_id))
    sql += " GROUP BY asset_id, interval_minutes, quote_currency, source"
    rows = client.query(sql, params, alias=alias)
    out = [
        SeriesCoverage(int(a), int(i), str(q), str(s), as_utc(lo), as_utc(hi), int(n))
        for a, i, q, s, lo, hi, n in rows
    ]
    out.sort(key=lambda c: (c.asset_id, c.quote_currency, c.interval_minutes, c.source))
    return out
