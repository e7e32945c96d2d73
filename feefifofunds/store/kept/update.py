"""Bringing the kept state up to date from the notes of spans written (``store.written``).

Per region of time the notes cover, two queries of the price table bounded by the region's time; per series,
the kept runs within the region are replaced by the ones stored there, and a run that reaches into the
region from outside gives the stored candle before (or after) it, so nothing outside the region is read.
Exact in any order of the notes: every difference between the kept state and the store lies inside a noted
span, at least one interval from the edge of its region.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from feefifofunds import calendars
from feefifofunds.timeframes import epoch_micros, from_epoch_micros

from .. import client, schema
from ..config import DEFAULT_ALIAS
from ..rows import insert_rows
from ..series import SeriesKey
from .runs import (
    DAY_US,
    MICROS_PER_MINUTE,
    Cover,
    Piece,
    Run,
    all_of,
    count_series,
    grid_run,
    pieces_of,
    series_filter,
    stored_runs,
    stored_summary,
    stored_times_of,
    time_filter,
)
from .state import build_record, bump_version, is_built, store_of, table_id


def confirmed_ranges(keys: Iterable[SeriesKey], lo_us: int | None = None, hi_us: int | None = None,
               ) -> dict[tuple[int, str, int], list[tuple[int, int]]]:
    """Confirmed-empty ranges of the series' (asset, quote, interval), as epoch microseconds."""
    from feefifofunds.models import ConfirmedEmptyRange

    keys = list(keys)
    if not keys:
        return {}
    qs = ConfirmedEmptyRange.objects.filter(asset_id__in={k.asset_id for k in keys},
                                            interval_minutes__in={k.interval_minutes for k in keys})
    if lo_us is not None:
        qs = qs.filter(end__gte=from_epoch_micros(lo_us))
    if hi_us is not None:
        qs = qs.filter(start__lte=from_epoch_micros(hi_us))
    out: dict[tuple[int, str, int], list[tuple[int, int]]] = defaultdict(list)
    for a, q, i, start, end in qs.values_list("asset_id", "quote_currency", "interval_minutes", "start", "end"):
        out[(a, q, i)].append((epoch_micros(start), epoch_micros(end)))
    return out


class GapRow(NamedTuple):
    """A ``KeptGap`` row as inserted (plain tuples: a full build inserts hundreds of thousands)."""

    store: str
    asset_id: int
    interval_minutes: int
    quote_currency: str
    source: str
    after_us: int
    before_us: int
    start_us: int
    end_us: int
    missing: int
    confirmed_empty: bool


def gap_rows(store: str, key: SeriesKey, runs: Iterable[Run], step_us: int,
             confirmed: dict[tuple[int, str, int], list[tuple[int, int]]]) -> list[GapRow]:
    ranges = confirmed.get((key.asset_id, key.quote_currency, key.interval_minutes), [])
    head = (store, key.asset_id, key.interval_minutes, key.quote_currency, key.source)
    return [GapRow(*head, run.after_us, run.before_us, p.start_us, p.end_us, p.missing, p.confirmed_empty)
            for run in runs for p in (pieces_of(run, step_us, ranges) if ranges else
                                      [Piece(run.start_us, run.end_us, run.missing, False)])]


def insert_gaps(rows: list, *, ordered: bool = False) -> None:
    """``KeptGap`` rows (tuples in ``GapRow`` order) inserted in index order (sorted unless ``ordered``): the
    inserts walk the index instead of jumping about it."""
    from feefifofunds.models import KeptGap

    if rows:
        insert_rows(KeptGap, GapRow._fields, rows if ordered else sorted(rows))


_SERIES_FIELDS = ["first_us", "last_us", "candles", "missing", "open_gaps", "regular", "calendar"]
_KEY_FIELDS = ["store", "asset_id", "interval_minutes", "quote_currency", "source"]


def save(store: str, covers: dict[SeriesKey, Cover], gone_gap_ids: list[int], new_gaps: list[GapRow],
         note_ids: list[int] = ()) -> None:
    """One transaction: the series' new coverage, their runs replaced, the notes applied deleted. Rows go in
    by ``executemany`` of one statement (``store.rows``)."""
    from feefifofunds.models import KeptGap, KeptSeries, WrittenSpan

    with transaction.atomic():
        for i in range(0, len(gone_gap_ids), 5000):
            KeptGap.objects.filter(pk__in=gone_gap_ids[i:i + 5000]).delete()
        insert_gaps(new_gaps)
        if covers:
            insert_rows(KeptSeries, _KEY_FIELDS + _SERIES_FIELDS, [
                (store, k.asset_id, k.interval_minutes, k.quote_currency, k.source, c.first_us, c.last_us, c.candles,
                 c.missing, c.open_gaps, c.regular, c.calendar) for k, c in covers.items()], _KEY_FIELDS)
        for i in range(0, len(note_ids), 5000):
            WrittenSpan.objects.filter(pk__in=note_ids[i:i + 5000]).delete()
        bump_version(store)


def judged_by_hours(keys: Iterable[SeriesKey]) -> dict[SeriesKey, str]:
    """The series among ``keys`` judged by market hours, with their calendar."""
    from feefifofunds.catalog import calendars_of

    keys = list(keys)
    hours = calendars_of({k.asset_id for k in keys}) if keys else {}
    return {k: hours[k.asset_id] for k in keys
            if k.asset_id in hours and not calendars.follows_grid(hours[k.asset_id], k.interval_minutes)}


def by_sessions(store: str, keys: Iterable[tuple[SeriesKey, str]], *, alias: str, table: str, known: bool = True,
                 ) -> tuple[dict[SeriesKey, Cover], list[int], list]:
    """Series judged by a calendar, made again from all their stored times; ``known``: their kept runs exist
    and are replaced (their ids returned)."""
    from feefifofunds.models import KeptGap

    covers: dict[SeriesKey, Cover] = {}
    gone: list[int] = []
    new: list = []
    keys = list(keys)
    confirmed = confirmed_ranges([k for k, _ in keys])
    for key, code in keys:
        if known:
            gone += list(KeptGap.objects.filter(store=store, asset_id=key.asset_id,
                                                interval_minutes=key.interval_minutes,
                                                quote_currency=key.quote_currency, source=key.source)
                         .values_list("pk", flat=True))
        stored = stored_times_of(key, alias=alias, table=table)
        if not len(stored):
            continue
        step = key.interval_minutes * MICROS_PER_MINUTE
        runs = [Run(a, b, a, b, n) for a, b, n in calendars.missing_runs(code, key.interval_minutes, stored)]
        rows = gap_rows(store, key, runs, step, confirmed)
        new += rows
        covers[key] = Cover(int(stored[0]), int(stored[-1]), len(stored), sum(r.missing for r in runs),
                            sum(not r.confirmed_empty for r in rows), regular=False, calendar=code)
    return covers, gone, new


def prepare(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> None:
    """At the start of a writing run (under the store lock): a store whose table is empty and has no kept
    state is built at once (there is nothing to scan); the notes a killed run left are applied."""
    from feefifofunds.models import KeptBuild, KeptGap, KeptSeries

    if build_record(alias, table) is None:
        tid = table_id(alias, table)
        if tid is None:
            return
        if client.query(f"SELECT count() FROM {table}", alias=alias)[0][0] == 0:
            store = store_of(alias)
            with transaction.atomic():
                KeptSeries.objects.filter(store=store).delete()
                KeptGap.objects.filter(store=store).delete()
                KeptBuild.objects.update_or_create(store=store, defaults={
                    "table_id": tid, "built": True, "reached": None, "built_at": timezone.now()})
                bump_version(store)
    apply_notes(alias, table)


def catch_up(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> None:
    """For readers: notes that no writer is working on (a killed run's, or rows written without a command)
    are applied first, and a store whose table is empty is built; nothing happens while a writer holds the
    store lock (it does this itself when it leaves)."""
    from feefifofunds.models import KeptBuild, WrittenSpan

    from ..lock import LockBusy, store_lock

    store = store_of(alias)
    if KeptBuild.objects.filter(store=store).exists() and not WrittenSpan.objects.filter(store=store).exists():
        return
    try:
        with store_lock(alias):
            prepare(alias, table)
    except LockBusy:
        pass


def apply_notes(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> int:
    """Bring the kept state up to date with the store's notes (``store.written``); the caller holds the store
    lock. Returns the number of series updated. A store not built forgets its notes (its build reads all)."""
    from feefifofunds.models import WrittenSpan

    store = store_of(alias)
    notes = list(WrittenSpan.objects.filter(store=store).values_list(
        "pk", "asset_id", "interval_minutes", "quote_currency", "source", "lo_us", "hi_us"))
    if not notes:
        return 0
    record = build_record(alias, table)
    usable = [] if record is None else [n for n in notes if record.built or n[1] < (record.reached or 0)]
    updated = 0
    if usable:
        client.wait_for_wal(table, alias=alias)
        for region in _regions(usable):
            updated += _apply_region(store, region, alias=alias, table=table)
    leftover = sorted({n[0] for n in notes} - {n[0] for n in usable})
    if leftover:
        WrittenSpan.objects.filter(pk__in=leftover).delete()
    return updated


def _regions(notes: list[tuple]) -> list[list[tuple]]:
    """Notes grouped by time: a region ends where the next note starts more than two of the largest
    intervals (at least two days) after everything before it."""
    separation = max(2 * DAY_US, 2 * max(n[2] for n in notes) * MICROS_PER_MINUTE)
    out: list[list[tuple]] = []
    reach = None
    for n in sorted(notes, key=lambda n: n[5]):
        if reach is None or n[5] > reach + separation:
            out.append([])
            reach = n[6]
        out[-1].append(n)
        reach = max(reach, n[6])
    return out


def _apply_region(store: str, notes: list[tuple], *, alias: str, table: str) -> int:
    from feefifofunds.models import KeptGap, KeptSeries

    keys = {SeriesKey(a, i, q, s) for _, a, i, q, s, _, _ in notes}
    margin = max(k.interval_minutes for k in keys) * MICROS_PER_MINUTE
    wlo, whi = min(n[5] for n in notes) - margin, max(n[6] for n in notes) + margin
    judged = judged_by_hours(keys)
    grid = sorted(keys - set(judged), key=lambda k: (k.asset_id, k.interval_minutes, k.quote_currency, k.source))
    covers: dict[SeriesKey, Cover] = {}
    gone: list[int] = []
    new: list = []
    if grid:
        where, params = all_of(series_filter(grid), time_filter(wlo, whi))
        summary = stored_summary(where, params, alias=alias, table=table)
        inner: dict[SeriesKey, list[tuple[int, int]]] = defaultdict(list)
        for a, q, i, s, p, t in stored_runs(where, params, alias=alias, table=table,
                                             asset_ids={k.asset_id for k in grid}):
            inner[SeriesKey(int(a), int(i), str(q), str(s))].append((int(p), int(t)))
        ids = sorted({k.asset_id for k in grid})
        kept = {SeriesKey(a, i, q, s): Cover(f, la, n, m, o, r, c) for a, i, q, s, f, la, n, m, o, r, c in
                KeptSeries.objects.filter(store=store, asset_id__in=ids).values_list(
                    "asset_id", "interval_minutes", "quote_currency", "source", *_SERIES_FIELDS)}
        near: dict[SeriesKey, list[tuple]] = defaultdict(list)
        for pk, a, i, q, s, after, before, missing, empty in KeptGap.objects.filter(
                store=store, asset_id__in=ids, before_us__gte=wlo, after_us__lte=whi).values_list(
                "pk", "asset_id", "interval_minutes", "quote_currency", "source", "after_us", "before_us", "missing",
                "confirmed_empty"):
            near[SeriesKey(a, i, q, s)].append((pk, after, before, missing, empty))
        fresh: dict[SeriesKey, list[Run]] = {}
        for key in grid:
            if key not in summary:
                continue  # nothing stored in the region: nothing changed there
            cover, runs, removed = _update_series(key, summary[key], sorted(inner.get(key, [])), kept.get(key),
                                                  near.get(key, []), wlo, whi)
            fresh[key] = runs
            gone += [pk for pk, *_ in removed]
            cover.missing -= sum(m for _, _, _, m, _ in removed)
            cover.open_gaps -= sum(1 for *_, empty in removed if not empty)
            covers[key] = cover
        lo = min((r.start_us for runs in fresh.values() for r in runs), default=None)
        hi = max((r.end_us for runs in fresh.values() for r in runs), default=None)
        confirmed = confirmed_ranges(fresh, lo, hi) if lo is not None else {}
        for key, runs in fresh.items():
            rows = gap_rows(store, key, runs, key.interval_minutes * MICROS_PER_MINUTE, confirmed)
            new += rows
            cover = covers[key]
            cover.missing += sum(r.missing for r in runs)
            cover.open_gaps += sum(not r.confirmed_empty for r in rows)
            step = key.interval_minutes * MICROS_PER_MINUTE
            cover.candles = ((cover.last_us - cover.first_us) // step + 1 - cover.missing if cover.regular
                             else count_series(key, cover, alias=alias, table=table))
    if judged:
        more, more_gone, more_new = by_sessions(store, judged.items(), alias=alias, table=table)
        covers.update(more)
        gone += more_gone
        new += more_new
    save(store, covers, gone, new, [n[0] for n in notes])
    return len(covers)


def _update_series(key: SeriesKey, summary: tuple[int, int, int, int], inner: list[tuple[int, int]],
                   kept: Cover | None, near: list[tuple], wlo: int, whi: int) -> tuple[Cover, list[Run], list]:
    """One series' new coverage (before the replaced runs are subtracted), its runs within the region and
    the kept runs they replace. ``near``: kept runs overlapping ``[wlo, whi]`` as (pk, after, before, missing,
    empty); ``inner``: stored pairs further apart than one interval within it."""
    step = key.interval_minutes * MICROS_PER_MINUTE
    m, big_m, _, off = summary
    pairs = list(inner)
    lower, upper = m, big_m
    if m >= wlo + step:  # nothing stored in the region's first interval: the run before may reach into it
        left = None
        if kept is not None:
            if kept.last_us < wlo:
                left = kept.last_us
            else:
                left = next((after for _, after, before, _, _ in near if after < wlo <= before), None)
        lower = left if left is not None else -math.inf
        if left is not None:
            pairs.append((left, m))
    if big_m <= whi - step:
        right = None
        if kept is not None:
            if kept.first_us > whi:
                right = kept.first_us
            else:
                right = next((before for _, after, before, _, _ in near if after <= whi < before), None)
        upper = right if right is not None else math.inf
        if right is not None:
            pairs.append((big_m, right))
    removed = [g for g in near if g[1] >= lower and g[2] <= upper]
    runs = [r for r in (grid_run(p, q, step) for p, q in sorted(pairs)) if r is not None]
    if kept is None:
        cover = Cover(m, big_m, 0, regular=off == 0)
    else:
        cover = Cover(min(kept.first_us, m), max(kept.last_us, big_m), kept.candles, kept.missing, kept.open_gaps,
                      kept.regular and off == 0)
    return cover, runs, removed


def reconfirm(keys: Iterable[SeriesKey], alias: str = DEFAULT_ALIAS, table: str = schema.TABLE, *,
              lo_us: int | None = None, hi_us: int | None = None) -> None:
    """Split the kept runs of ``keys`` (those reaching into ``[lo_us, hi_us]``) again by their confirmed-empty
    ranges, after a backfill recorded some."""
    from feefifofunds.models import KeptGap, KeptSeries

    if not is_built(alias, table):
        return
    store = store_of(alias)
    keys = list(keys)
    confirmed = confirmed_ranges(keys)
    covers: dict[SeriesKey, Cover] = {}
    gone: list[int] = []
    new: list = []
    for key in keys:
        row = KeptSeries.objects.filter(store=store, asset_id=key.asset_id, interval_minutes=key.interval_minutes,
                                        quote_currency=key.quote_currency, source=key.source).first()
        if row is None:
            continue
        of_series = KeptGap.objects.filter(store=store, asset_id=key.asset_id, interval_minutes=key.interval_minutes,
                                           quote_currency=key.quote_currency, source=key.source)
        near = of_series
        if lo_us is not None:
            near = near.filter(end_us__gte=lo_us)
        if hi_us is not None:
            near = near.filter(start_us__lte=hi_us)
        spans = set(near.values_list("after_us", "before_us"))
        if not spans:
            continue
        runs: dict[tuple[int, int], list] = defaultdict(list)
        was_open = 0
        for pk, after, before, start, end, missing, empty in of_series.filter(
                after_us__in={a for a, _ in spans}).values_list(
                "pk", "after_us", "before_us", "start_us", "end_us", "missing", "confirmed_empty"):
            if (after, before) in spans:
                runs[(after, before)].append((start, end, missing))
                gone.append(pk)
                was_open += not empty
        whole = [Run(after, before, min(p[0] for p in parts), max(p[1] for p in parts), sum(p[2] for p in parts))
                 for (after, before), parts in runs.items()]
        rows = gap_rows(store, key, whole, key.interval_minutes * MICROS_PER_MINUTE, confirmed)
        new += rows
        covers[key] = Cover(row.first_us, row.last_us, row.candles, row.missing,
                            row.open_gaps - was_open + sum(not r.confirmed_empty for r in rows), row.regular,
                            row.calendar)
    save(store, covers, gone, new)
