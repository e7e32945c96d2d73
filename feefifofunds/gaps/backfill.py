"""Fill API-fillable gaps from Kraken's REST API, remember what Kraken confirmed empty, re-check each gap.

One OHLC request per series (since its earliest gap): the API answers the 720 most recent candles anyway.
Candles go through the same writer as the archive ingestion (``PriceWriter``, source ``kraken``), so archive
and API candles deduplicate against each other. A candle time inside the answer's window that Kraken has no
candle for is *confirmed empty* (nobody traded) and stored as a ``ConfirmedEmptyRange``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from feefifofunds.sources import CandleRequest, PagedSource, SourceError
from feefifofunds.store import client, kept, schema
from feefifofunds.store.client import QuestDBError
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.series import SeriesKey

from .classify import ClassifiedGap
from .detection import Gap, empty_runs, kept_gaps, record_confirmed_empty

FILLED = "filled"
PARTLY_FILLED = "partly filled"
CONFIRMED_EMPTY = "confirmed empty"
NOT_FILLED = "not filled"
FAILED = "failed"


@dataclass
class FillResult:
    gap: Gap
    status: str = NOT_FILLED
    written: int = 0  # candles written for this gap
    confirmed_empty: int = 0  # candle times Kraken confirmed have no candle
    remaining: int = 0  # candles still missing (not confirmed empty) after the re-check
    message: str = ""


def _series_groups(gaps: Iterable[Gap]) -> dict[tuple[int, str, int], list[Gap]]:
    groups: dict[tuple[int, str, int], list[Gap]] = defaultdict(list)
    for gap in gaps:
        groups[gap.series].append(gap)
    return groups


def _overlap(gap: Gap, other: Gap) -> int:
    if other.series != gap.series or other.end < gap.start or other.start > gap.end:
        return 0
    lo, hi = max(gap.start, other.start), min(gap.end, other.end)
    return int((hi - lo) / gap.step) + 1


def backfill(gaps: Iterable[ClassifiedGap | Gap], tickers: Mapping[int, str], source: PagedSource, *,
             alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
             on_series: Callable[[tuple[int, str, int], list[Gap], str | None], None] | None = None,
             ) -> list[FillResult]:
    """Fill the given gaps; returns one result per gap in input order. Errors fail only their series' gaps.

    Candles are stored under ``source.name``; the caller owns the store lock and the source's session.
    """
    from feefifofunds.ingestion.writer import PriceWriter, WriteError  # the survey never writes: not at start-up

    plain = [g.gap if isinstance(g, ClassifiedGap) else g for g in gaps]
    results = {g: FillResult(g) for g in plain}
    empties: list[Gap] = []
    groups = _series_groups(plain)
    try:
        with PriceWriter(alias, table=table) as writer:
            for series, series_gaps in groups.items():
                asset_id, quote, interval = series
                first, last = min(g.start for g in series_gaps), max(g.end for g in series_gaps)
                request = CandleRequest(ticker=tickers[asset_id], quote_currency=quote, interval_minutes=interval,
                                        start=first, end=last + series_gaps[0].step)
                try:
                    page = source.fetch_page(request)
                except SourceError as exc:
                    for gap in series_gaps:
                        results[gap].status, results[gap].message = FAILED, str(exc)
                    if on_series:
                        on_series(series, series_gaps, str(exc))
                    continue
                key = SeriesKey(asset_id=asset_id, interval_minutes=interval, quote_currency=quote, source=source.name)
                for gap in series_gaps:
                    ts = pl.col("time")
                    candles = page.candles.filter((ts >= gap.start) & (ts <= gap.end))
                    if candles.height:
                        writer.add(candles, key)
                    present = set(candles.get_column("time").dt.epoch("s").to_list())
                    runs = empty_runs(gap, page.covered_from, page.covered_until, present)
                    results[gap].written = candles.height
                    results[gap].confirmed_empty = sum(r.missing_candles for r in runs)
                    empties.extend(runs)
                writer.flush()
                if on_series:
                    on_series(series, series_gaps, None)
        client.wait_for_wal(table, alias=alias)
    except (WriteError, QuestDBError) as exc:
        for result in results.values():
            if result.status != FAILED:
                result.status, result.message = FAILED, f"write to QuestDB failed: {exc}"
        return [results[g] for g in plain]
    record_confirmed_empty(empties, alias)
    _recheck(results, alias=alias, table=table)
    return [results[g] for g in plain]


def _recheck(results: dict[Gap, FillResult], *, alias: str, table: str) -> None:
    """Detect again over the series touched; set each gap's remaining count and final status."""
    todo = [r for r in results.values() if r.status != FAILED]
    if not todo:
        return
    kept.apply_notes(alias, table)  # the caller holds the store lock
    _, real_after, _ = kept_gaps(alias, asset_ids={r.gap.asset_id for r in todo},
                                 intervals={r.gap.interval_minutes for r in todo}, table=table)
    by_series = _series_groups(real_after)
    for result in todo:
        gap = result.gap
        result.remaining = sum(_overlap(gap, other) for other in by_series.get(gap.series, ()))
        if result.remaining == 0:
            result.status = CONFIRMED_EMPTY if result.written == 0 and result.confirmed_empty else FILLED
        elif result.written or result.confirmed_empty:
            result.status = PARTLY_FILLED
        else:
            result.status = NOT_FILLED
            result.message = "Kraken's answer did not cover these candles"


def failures(results: Iterable[FillResult]) -> list[FillResult]:
    return [r for r in results if r.status == FAILED]
