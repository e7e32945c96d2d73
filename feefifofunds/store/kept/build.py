"""The kept state made from the price table: the first build of a store that has prices, the repair, and a
calendar change. One pass per chunk of asset ids, resumable; memory holds one chunk's runs, never candles.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import client, schema
from ..config import DEFAULT_ALIAS
from ..series import SeriesKey
from .runs import (
    MICROS_PER_MINUTE,
    Cover,
    grid_run,
    in_list,
    last_times,
    off_grid_series,
    series_counts,
    stored_runs,
)
from .state import is_built, store_of, table_id
from .update import by_sessions, confirmed_ranges, gap_rows, judged_by_hours, save

BUILD_CHUNK_ROWS = 60_000_000  # price rows per build chunk (resumable unit; two threads each)


@dataclass
class BuildProgress:
    chunk: int
    chunks: int
    series: int
    runs: int


def _built_chunk(store: str, where: str, params: list, *, alias: str, table: str,
                 ) -> tuple[dict[SeriesKey, Cover], list]:
    """Coverage and runs of every series matching ``where``, from the prices (a series judged by market hours
    from its stored times). One window pass gives every series' first candle, repeated candles and runs; the
    last candles and the off-grid counts come from filtered reads of a fraction of the rows (``last_times``,
    ``off_grid_series``). A series on its grid has as many candles as its span less its missing ones, plus its
    repeated ones; the others are counted. Rows are plain tuples in ``GapRow`` order, by series then time."""
    firsts: dict[tuple[int, int, str, str], int] = {}
    repeated: dict[tuple[int, int, str, str], int] = defaultdict(int)
    pairs: dict[tuple[int, int, str, str], list[tuple[int, int]]] = defaultdict(list)
    for a, q, i, s, p, t in stored_runs(where, params, alias=alias, table=table, firsts=True):
        if p is None:
            firsts[(a, i, q, s)] = t
        elif p == t:
            repeated[(a, i, q, s)] += 1
        else:
            pairs[(a, i, q, s)].append((p, t))
    judged = judged_by_hours(SeriesKey(*k) for k in firsts)
    grid = sorted(k for k in firsts if SeriesKey(*k) not in judged)
    off = off_grid_series(where, params, alias=alias, table=table)
    lasts = last_times(where, params, grid, alias=alias, table=table)
    irregular = [k for k in grid if k in off]
    counted = series_counts(f"({where}) AND asset_id IN ({in_list(k[0] for k in irregular)})", params, alias=alias,
                            table=table) if irregular else {}
    confirmed = confirmed_ranges(SeriesKey(*k) for k in grid)
    covers: dict[SeriesKey, Cover] = {}
    new: list = []
    for key in grid:
        a, i, q, s = key
        step = i * MICROS_PER_MINUTE
        runs = sorted(pairs.get(key, ()))
        if (a, q, i) in confirmed:
            rows = gap_rows(store, SeriesKey(*key), [r for r in (grid_run(p, t, step) for p, t in runs) if r],
                            step, confirmed)
        else:
            rows = [(store, a, i, q, s, p, t, p + step, p + m * step, m, False)
                    for p, t in runs if (m := (t - p - 1) // step) > 0]
        new += rows
        first, last = firsts[key], lasts[key]
        missing = sum(r[9] for r in rows)
        candles = counted[key] if key in off else (last - first) // step + 1 - missing + repeated.get(key, 0)
        covers[SeriesKey(*key)] = Cover(first, last, candles, missing, sum(not r[10] for r in rows), key not in off)
    more, _, more_new = by_sessions(store, judged.items(), alias=alias, table=table, known=False)
    covers.update(more)
    return covers, new + more_new


def _delete_store(model, store: str) -> None:
    """The store's rows of a kept table deleted; a table holding no other store's rows is emptied by a DELETE
    without a filter (SQLite drops the table's and its indexes' pages at once instead of row by row)."""
    others = model.objects.filter(Q(store__lt=store) | Q(store__gt=store)).exists()
    (model.objects.filter(store=store) if others else model.objects.all()).delete()


def rebuild(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE, *,
            progress: Callable[[BuildProgress], None] | None = None, chunk_rows: int = BUILD_CHUNK_ROWS,
            ) -> BuildProgress:
    """Make the kept coverage and gaps from the price table (the caller holds the store lock). Resumable: a
    build that stopped goes on from the first chunk of asset ids it had not finished; a built store is made
    again from the start. Memory holds one chunk's runs, never candles."""
    from feefifofunds.models import KeptBuild, KeptGap, KeptSeries, WrittenSpan

    store = store_of(alias)
    tid = table_id(alias, table)
    if tid is None:
        raise client.QuestDBError(f"the price table {table!r} does not exist (run `manage.py migrate`)")
    client.wait_for_wal(table, alias=alias)
    record = KeptBuild.objects.filter(store=store).first()
    resume = record is not None and record.table_id == tid and not record.built and record.reached is not None
    low, high, rows = client.query(f"SELECT min(asset_id), max(asset_id), count() FROM {table}", alias=alias)[0]
    low, high = (0, 0) if low is None else (int(low), int(high))
    chunks = max(1, math.ceil(int(rows) / chunk_rows))
    width = max(1, math.ceil((high - low + 1) / chunks))
    bounds = [low + k * width for k in range(chunks)] + [high + 1]
    with transaction.atomic():
        WrittenSpan.objects.filter(store=store).delete()  # the build reads everything as it is now
        if not resume:
            _delete_store(KeptSeries, store)
            _delete_store(KeptGap, store)
            KeptBuild.objects.update_or_create(store=store, defaults={
                "table_id": tid, "built": False, "reached": low, "built_at": None})
    reached = KeptBuild.objects.get(store=store).reached
    done = BuildProgress(0, chunks, 0, 0)
    for k in range(chunks):
        a, b = max(bounds[k], reached), bounds[k + 1]
        if b > a:
            covers, new = _built_chunk(store, f"asset_id >= {a} AND asset_id < {b}", [], alias=alias, table=table)
            with transaction.atomic():
                KeptSeries.objects.filter(store=store, asset_id__gte=a, asset_id__lt=b).delete()
                KeptGap.objects.filter(store=store, asset_id__gte=a, asset_id__lt=b).delete()
                save(store, covers, [], new)
                KeptBuild.objects.filter(store=store).update(reached=b)
            reached = b
            done.series += len(covers)
            done.runs += len(new)
        done.chunk = k + 1
        if progress is not None:
            progress(done)
    KeptBuild.objects.filter(store=store).update(built=True, reached=None, built_at=timezone.now(),
                                                 version=F("version") + 1)
    return done


def rejudge(asset_ids: Iterable[int], alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> int:
    """The series of assets whose calendar changed, made again from their prices; returns how many."""
    from feefifofunds.models import KeptGap, KeptSeries

    if not is_built(alias, table):
        return 0
    store = store_of(alias)
    ids = sorted({int(a) for a in asset_ids})
    if not ids:
        return 0
    client.wait_for_wal(table, alias=alias)
    covers, new = _built_chunk(store, f"asset_id IN ({in_list(ids)})", [], alias=alias, table=table)
    with transaction.atomic():
        KeptSeries.objects.filter(store=store, asset_id__in=ids).delete()
        KeptGap.objects.filter(store=store, asset_id__in=ids).delete()
        save(store, covers, [], new)
    return len(covers)
