"""The kept state made from the price table: the first build of a store that has prices, the repair, and a
calendar change. One pass per chunk of asset ids, resumable; memory holds one chunk's runs, never candles.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import client, schema
from ..config import DEFAULT_ALIAS
from ..series import SeriesKey
from .runs import MICROS_PER_MINUTE, Cover, Run, grid_run, in_list, stored_runs, stored_summary
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
    from its stored times)."""
    summary = stored_summary(where, params, alias=alias, table=table)
    judged = judged_by_hours(summary)
    pairs: dict[SeriesKey, list[Run]] = defaultdict(list)
    for a, q, i, s, p, t in stored_runs(where, params, alias=alias, table=table):
        key = SeriesKey(int(a), int(i), str(q), str(s))
        run = grid_run(int(p), int(t), key.interval_minutes * MICROS_PER_MINUTE)
        if run is not None and key not in judged:
            pairs[key].append(run)
    keys = [k for k in summary if k not in judged]
    confirmed = confirmed_ranges(keys)
    covers: dict[SeriesKey, Cover] = {}
    new: list = []
    for key in keys:
        first, last, count, off = summary[key]
        runs = pairs.get(key, [])
        rows = gap_rows(store, key, runs, key.interval_minutes * MICROS_PER_MINUTE, confirmed)
        new += rows
        covers[key] = Cover(first, last, count, sum(r.missing for r in runs), sum(not r.confirmed_empty for r in rows),
                            off == 0)
    more, _, more_new = by_sessions(store, judged.items(), alias=alias, table=table, known=False)
    covers.update(more)
    return covers, new + more_new


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
            KeptSeries.objects.filter(store=store).delete()
            KeptGap.objects.filter(store=store).delete()
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
