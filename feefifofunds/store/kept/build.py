"""The kept state made from the price table: the first build of a store that has prices, the repair, and a
calendar change. One pass per chunk of asset ids, resumable; memory holds one chunk's runs, never candles.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from .. import client, schema
from ..config import DEFAULT_ALIAS
from ..series import SeriesKey
from .runs import (
    MICROS_PER_MINUTE,
    NO_PREV,
    Cover,
    grid_run,
    in_list,
    last_times,
    one_row_per_time,
    series_counts,
    stored_run_parts,
)
from .state import is_built, store_of, table_id
from .update import by_sessions, confirmed_ranges, gap_rows, insert_gaps, judged_by_hours, save

# Price rows per build chunk: the resumable unit, two threads each. Every chunk's pass reads the whole table
# (it is partitioned by time, a chunk is a range of asset ids), so a store of a few hundred million rows is
# built in one or a few passes, as detect_gaps scans it; memory holds one chunk's gap runs (~1 M at most).
BUILD_CHUNK_ROWS = 250_000_000
ALL_IDS = range(-(2**31) + 1, 2**31)  # every asset id a price row can carry (QuestDB's INT; its NULL is below)
BUILD_PARTS = 2  # window queries per chunk, two at a time (each costs a pass over the filter's columns)


@dataclass
class BuildProgress:
    chunk: int
    chunks: int
    series: int
    runs: int


def _built_chunk(store: str, where: str, params: list, *, alias: str, table: str,
                 asset_ids: Iterable[int] | None = None, parts: int = BUILD_PARTS,
                 ) -> tuple[dict[SeriesKey, Cover], int]:
    """Coverage and runs of every series matching ``where``, from the prices (a series judged by market hours
    from its stored times). The runs go into ``KeptGap`` (in the caller's transaction) part by part of the
    asset ids as the window pass answers, so the catalog writes while QuestDB reads the other parts; the
    coverage is returned, with the number of runs written. ``asset_ids``: ids to split the parts among (any
    ids: the parts together keep every row; None: split at the middle of the ids stored).

    The window pass gives every series' first candle, repeated candles, runs and the pairs of candles closer
    than one interval; the last candles come from filtered reads of a fraction of the rows (``last_times``).
    A series is off its grid when its first candle is, or two consecutive candles lie a distance apart that
    is not a whole number of intervals: every such pair is one the pass returns (a distance of exactly one
    interval is on the grid or off it at both ends). A series on its grid has as many candles as its span
    less its missing ones, plus its repeated ones; the others are counted."""
    ends: dict[tuple[int, int, str, str], tuple[int, int, int, int]] = {}  # first, missing, open gaps, repeated
    judged: dict[SeriesKey, str] = {}
    off: set[tuple[int, int, str, str]] = set()
    written = 0
    repeats = not one_row_per_time(table, alias=alias)
    for part in stored_run_parts(where, params, alias=alias, table=table, asset_ids=asset_ids, firsts=True,
                                 repeats=repeats, close=True, parts=parts):
        firsts: dict[tuple[int, int, str, str], int] = {}
        repeated: dict[tuple[int, int, str, str], int] = defaultdict(int)
        pairs: dict[tuple[int, int, str, str], list[tuple[int, int]]] = defaultdict(list)
        for a, q, i, s, p, t in part:
            step = i * MICROS_PER_MINUTE
            if p == NO_PREV:
                firsts[(a, i, q, s)] = t
                if t % step:
                    off.add((a, i, q, s))
            elif p == t:
                repeated[(a, i, q, s)] += 1
            else:
                if (t - p) % step:
                    off.add((a, i, q, s))
                if t - p > step:
                    pairs[(a, i, q, s)].append((p, t))
        hours = judged_by_hours(SeriesKey(*k) for k in firsts)
        judged.update(hours)
        grid = sorted(k for k in firsts if SeriesKey(*k) not in hours)
        confirmed = confirmed_ranges(SeriesKey(*k) for k in grid)
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
            ends[key] = (firsts[key], sum(r[9] for r in rows), sum(not r[10] for r in rows), repeated.get(key, 0))
        insert_gaps(new, ordered=True)  # by series then time, as built
        written += len(new)
    lasts = last_times(where, params, ends, alias=alias, table=table)
    irregular = [k for k in ends if k in off]
    counted = series_counts(f"({where}) AND asset_id IN ({in_list(k[0] for k in irregular)})", params, alias=alias,
                            table=table) if irregular else {}
    covers: dict[SeriesKey, Cover] = {}
    for key, (first, missing, open_gaps, again) in ends.items():
        last = lasts[key]
        candles = counted[key] if key in off else (last - first) // (key[1] * MICROS_PER_MINUTE) + 1 - missing + again
        covers[SeriesKey(*key)] = Cover(first, last, candles, missing, open_gaps, key not in off)
    more, _, more_new = by_sessions(store, judged.items(), alias=alias, table=table, known=False)
    insert_gaps(more_new)
    covers.update(more)
    return covers, written + len(more_new)


def _catalog_ids(a: int, b: int) -> range | None:
    """The catalog's asset ids within ``[a, b)`` as a range, where the window pass splits its parts (the price
    rows carry the catalog's ids; a row of another id still lies in one of the parts); None when the catalog
    has no asset."""
    from feefifofunds.models import Asset

    got = Asset.objects.aggregate(lo=Min("id"), hi=Max("id"))
    return None if got["lo"] is None else range(max(a, got["lo"]), min(b, got["hi"] + 1))


@contextmanager
def _indexes_after(model) -> Iterator[None]:
    """In the caller's transaction: ``model``'s indexes dropped, and made again when the block ends (one sort
    per index instead of an index insert per row and index). For a table this build emptied: no reader looks at
    it until the build is done, and a failure rolls the indexes back with the rest."""
    from django.db import connection

    with connection.cursor() as cursor:
        for index in model._meta.indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(index.name)}")
    yield
    editor = connection.schema_editor()  # only to write the statements, as the migrations made them
    with connection.cursor() as cursor:
        for index in model._meta.indexes:
            cursor.execute(str(index.create_sql(model, editor)))


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
    chunks = max(1, math.ceil(int(client.query(f"SELECT count() FROM {table}", alias=alias)[0][0]) / chunk_rows))
    if chunks == 1:  # one chunk takes every id: no pass over the rows for their id range
        low, high = ALL_IDS.start, ALL_IDS.stop - 1
    else:
        low, high = client.query(f"SELECT min(asset_id), max(asset_id) FROM {table}", alias=alias)[0]
        low, high = (0, 0) if low is None else (int(low), int(high))
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
            with transaction.atomic():
                KeptSeries.objects.filter(store=store, asset_id__gte=a, asset_id__lt=b).delete()
                KeptGap.objects.filter(store=store, asset_id__gte=a, asset_id__lt=b).delete()
                with _indexes_after(KeptGap) if not KeptGap.objects.exists() else nullcontext():
                    covers, runs = _built_chunk(store, f"asset_id >= {a} AND asset_id < {b}", [], alias=alias,
                                                table=table, asset_ids=_catalog_ids(a, b))
                save(store, covers, [], [])
                KeptBuild.objects.filter(store=store).update(reached=b)
            reached = b
            done.series += len(covers)
            done.runs += runs
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
    with transaction.atomic():
        KeptSeries.objects.filter(store=store, asset_id__in=ids).delete()
        KeptGap.objects.filter(store=store, asset_id__in=ids).delete()
        covers, _ = _built_chunk(store, f"asset_id IN ({in_list(ids)})", [], alias=alias, table=table, asset_ids=ids)
        save(store, covers, [], [])
    return len(covers)
