"""Coverage and gap runs per series, kept in the catalog and brought up to date by every write.

Readers (the asset list, ``/api/gaps``, the chart, the daily survey) read these tables instead of scanning the
price store, so their cost follows what they show, not what the store holds. They live in the catalog
database: they are rewritten per series and span (QuestDB has no DELETE), read by index for one series and
aggregated for the asset list, and each update commits in one transaction with the deletion of the notes it
applied (``store.written``). The catalog's asset ids are the price rows' ids (``store.binding``).

What is kept is what a full scan finds (``gaps.detection.detect_gaps``): a series' runs are the pairs of
consecutive stored candles further apart than one interval (the run starts one interval after the first of
them and has ``(later - earlier - 1) // interval`` candles), split where a backfill confirmed the candles
empty (``ConfirmedEmptyRange``). A series whose asset keeps market hours is judged by its calendar's sessions
instead (``calendars.missing_runs``), recomputed from all its stored times when written (such series are
API series: small). The count follows from the span and the runs while every candle lies on its interval's
grid (``regular``); otherwise the series is counted again.

An update (``apply_notes``) looks at the regions of time the notes cover: per region, two queries of the
price table (per series: first, last, count and off-grid candles; the runs inside), both bounded by the
region's time range. Per series, the kept runs within the region are replaced by the ones stored there; a run
that reaches into the region from outside gives the stored candle before (or after) it, so nothing outside
the region is read. Exact in any order of the notes, since every difference between the kept state and the
store lies inside a noted span, at least one interval from the edge of its region.

``rebuild`` makes it all from the price table (the repair, and the first build of a store that has prices):
one pass per chunk of asset ids, resumable. Until a store is built, readers get ``None`` ("gaps not built
yet"), never a silent zero; a store whose table is empty is built at its first write.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from feefifofunds import calendars
from feefifofunds.timeframes import epoch_micros, from_epoch_micros, naive_utc

from . import client, schema
from .config import DEFAULT_ALIAS
from .series import SeriesKey, series_where

MICROS_PER_MINUTE = 60_000_000
DAY_US = 1440 * MICROS_PER_MINUTE
BUILD_CHUNK_ROWS = 60_000_000  # price rows per build chunk (resumable unit; two threads each)
NOT_BUILT = ("gaps not built yet: run `manage.py rebuild_gaps` (the kept gaps and coverage of this store "
             "are made from its prices once, then kept by every write)")


class NotBuilt(RuntimeError):
    """The store's kept gaps are not built yet (the message says how)."""

    def __init__(self, message: str = NOT_BUILT):
        super().__init__(message)


@dataclass(frozen=True)
class Run:
    """Missing candles between two stored ones; a series with market hours has no ``after``/``before``
    (its runs are sessions), and they are set to its first and last missing candle."""

    after_us: int
    before_us: int
    start_us: int
    end_us: int
    missing: int


@dataclass(frozen=True)
class Piece:
    start_us: int
    end_us: int
    missing: int
    confirmed_empty: bool


@dataclass
class Cover:
    """A series' kept coverage (``KeptSeries`` without its key)."""

    first_us: int
    last_us: int
    candles: int
    missing: int = 0
    open_gaps: int = 0
    regular: bool = True
    calendar: str = calendars.ALWAYS


def grid_run(after_us: int, before_us: int, step_us: int) -> Run | None:
    """The run between two consecutive stored candles, or None when they are at most one interval apart."""
    missing = (before_us - after_us - 1) // step_us
    if missing <= 0:
        return None
    return Run(after_us, before_us, after_us + step_us, after_us + missing * step_us, missing)


def split_run(start_us: int, step_us: int, missing: int,
              ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int, bool]]:
    """The run's candle indexes ``[0, missing)`` as pieces (first, last, inside a range), in order: a candle is
    inside when an inclusive range (epoch microseconds) holds its time. Interval arithmetic: a long run costs
    what its ranges cost, not what it misses."""
    covered: list[tuple[int, int]] = []
    for lo, hi in ranges:
        a = max(0, -((start_us - lo) // step_us))  # ceil((lo - start) / step)
        b = min(missing - 1, (hi - start_us) // step_us)
        if a <= b:
            covered.append((a, b))
    if not covered:
        return [(0, missing - 1, False)]
    covered.sort()
    merged: list[list[int]] = []
    for a, b in covered:
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[tuple[int, int, bool]] = []
    at = 0
    for a, b in merged:
        if a > at:
            out.append((at, a - 1, False))
        out.append((a, b, True))
        at = b + 1
    if at < missing:
        out.append((at, missing - 1, False))
    return out


def pieces_of(run: Run, step_us: int, confirmed: Iterable[tuple[int, int]]) -> list[Piece]:
    ranges = [(lo, hi) for lo, hi in confirmed if lo <= run.end_us and hi >= run.start_us]
    return [Piece(run.start_us + a * step_us, run.start_us + b * step_us, b - a + 1, flag)
            for a, b, flag in split_run(run.start_us, step_us, run.missing, ranges)]


# ---------------------------------------------------------------- reading the price table


def _in_list(values: Iterable[int]) -> str:
    return ", ".join(str(int(v)) for v in sorted(set(values)))


def series_filter(keys: Iterable[SeriesKey]) -> tuple[str, list]:
    """A filter that keeps every row of ``keys`` (and maybe of other series: callers pick theirs out)."""
    keys = list(keys)
    quotes = sorted({k.quote_currency for k in keys})
    sources = sorted({k.source for k in keys})
    where = (f"asset_id IN ({_in_list(k.asset_id for k in keys)}) AND "
             f"interval_minutes IN ({_in_list(k.interval_minutes for k in keys)}) AND "
             f"quote_currency IN ({', '.join(['%s'] * len(quotes))}) AND "
             f"source IN ({', '.join(['%s'] * len(sources))})")
    return where, [*quotes, *sources]


def time_filter(lo_us: int | None, hi_us: int | None) -> tuple[str, list]:
    where, params = [], []
    if lo_us is not None:
        where.append("time >= %s")
        params.append(naive_utc(from_epoch_micros(lo_us)))
    if hi_us is not None:
        where.append("time <= %s")
        params.append(naive_utc(from_epoch_micros(hi_us)))
    return " AND ".join(where), params


def _and(*parts: tuple[str, list]) -> tuple[str, list]:
    where = " AND ".join(w for w, _ in parts if w)
    return where or "true", [p for _, params in parts for p in params]


def stored_summary(where: str, params: list, *, alias: str, table: str) -> dict[SeriesKey, tuple[int, int, int, int]]:
    """Per series matching ``where``: first and last candle, count, and candles off the interval's grid."""
    rows = client.query(
        f"""SELECT asset_id, interval_minutes, quote_currency, source, min(cast(time AS LONG)),
                   max(cast(time AS LONG)), count(),
                   sum(CASE WHEN cast(time AS LONG) %% (cast(interval_minutes AS LONG) * {MICROS_PER_MINUTE}L) = 0
                       THEN 0 ELSE 1 END)
            FROM {table} WHERE {where} GROUP BY asset_id, interval_minutes, quote_currency, source""",
        params, alias=alias)
    return {SeriesKey(int(a), int(i), str(q), str(s)): (int(lo), int(hi), int(n), int(off or 0))
            for a, i, q, s, lo, hi, n, off in rows}


def asset_halves(where: str, params: list, asset_ids: Iterable[int] | None, *, alias: str,
                 table: str) -> list[str]:
    """Two disjoint filters that together keep every row (a NULL asset id included), split at an asset id in
    the middle of ``asset_ids`` or, for all, of the rows' id range (min/max cost milliseconds): QuestDB
    computes a window function on one thread, and two queries over disjoint halves run on two. One empty
    filter when there is nothing to split."""
    if asset_ids is not None:
        ids = sorted(set(asset_ids))
        if len(ids) < 2:
            return [""]
        middle = ids[len(ids) // 2]
    else:
        low, high = client.query(f"SELECT min(asset_id), max(asset_id) FROM {table} WHERE {where}", params,
                                 alias=alias)[0]
        if low is None or high is None or low >= high:
            return [""]
        middle = low + (high - low + 1) // 2
    return [f" AND asset_id < {int(middle)}", f" AND (asset_id >= {int(middle)} OR asset_id = NULL)"]


def stored_runs(where: str, params: list, *, alias: str, table: str, asset_ids: Iterable[int] | None = None,
                ) -> list[tuple[int, str, int, str, int, int]]:
    """Every pair of consecutive stored candles of a series further apart than one interval, among the rows
    matching ``where``: (asset id, quote, interval, source, earlier, later), times in epoch microseconds.

    One window-function pass (``lag()`` over each series ordered by time), so only the gaps reach Python; the
    window carries the timestamp itself (the difference of two TIMESTAMPs is microseconds) and only the rows
    that leave are cast to LONG. Two threads over disjoint halves of the asset ids."""

    def query(half: str) -> list[tuple]:
        return client.query(f"""
            SELECT asset_id, quote_currency, interval_minutes, source, cast(prev AS LONG), cast(time AS LONG)
            FROM (
                SELECT asset_id, quote_currency, interval_minutes, source, time,
                       lag(time) OVER (
                           PARTITION BY asset_id, quote_currency, interval_minutes, source ORDER BY time
                       ) AS prev
                FROM {table}
                WHERE {where}{half}
            )
            WHERE prev IS NOT NULL AND time - prev > cast(interval_minutes AS LONG) * {MICROS_PER_MINUTE}L
        """, params, alias=alias)

    halves = asset_halves(where, params, asset_ids, alias=alias, table=table)
    if len(halves) == 1:
        return query("")
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = [pool.submit(query, half) for half in halves]
        return [row for part in parts for row in part.result()]


def _stored_times(key: SeriesKey, *, alias: str, table: str):
    import numpy as np

    where, params = series_where(**asdict(key))
    rows = client.query(f"SELECT cast(time AS LONG) FROM {table} WHERE {where}", params, alias=alias, binary=True)
    return np.unique(np.asarray([t for (t,) in rows], dtype=np.int64))


def _count(key: SeriesKey, cover: Cover, *, alias: str, table: str) -> int:
    where, params = series_where(**asdict(key), start=from_epoch_micros(cover.first_us),
                                 last=from_epoch_micros(cover.last_us))
    return int(client.query(f"SELECT count() FROM {table} WHERE {where}", params, alias=alias)[0][0])


# ---------------------------------------------------------------- the build record


def store_of(alias: str) -> str:
    return client.get_config(alias).store_id


def table_id(alias: str, table: str = schema.TABLE) -> int | None:
    rows = client.query("SELECT id FROM tables() WHERE table_name = %s", (table,), alias=alias)
    return int(rows[0][0]) if rows else None


def build_record(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE):
    """The store's ``KeptBuild`` if it describes the table there now (another id: the table was made again,
    and what is kept describes the old one), else None."""
    from feefifofunds.models import KeptBuild

    record = KeptBuild.objects.filter(store=store_of(alias)).first()
    if record is None or record.table_id != table_id(alias, table):
        return None
    return record


def is_built(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> bool:
    record = build_record(alias, table)
    return record is not None and record.built


def version(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> str:
    """Changes with every change to what is kept (part of ``coverage.store_version``)."""
    record = build_record(alias, table)
    return "none" if record is None else f"{record.pk}:{int(record.built)}:{record.version}"


def _bump(store: str) -> None:
    from feefifofunds.models import KeptBuild

    KeptBuild.objects.filter(store=store).update(version=F("version") + 1)


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
                _bump(store)
    apply_notes(alias, table)


def catch_up(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> None:
    """For readers: notes that no writer is working on (a killed run's, or rows written without a command)
    are applied first, and a store whose table is empty is built; nothing happens while a writer holds the
    store lock (it does this itself when it leaves)."""
    from feefifofunds.models import KeptBuild, WrittenSpan

    from .lock import LockBusy, store_lock

    store = store_of(alias)
    if KeptBuild.objects.filter(store=store).exists() and not WrittenSpan.objects.filter(store=store).exists():
        return
    try:
        with store_lock(alias):
            prepare(alias, table)
    except LockBusy:
        pass


def forget(alias: str = DEFAULT_ALIAS) -> None:
    """Drop what this catalog keeps of the store (it was bound to another catalog: build it again)."""
    from feefifofunds.models import KeptBuild, KeptGap, KeptSeries, WrittenSpan

    store = store_of(alias)
    with transaction.atomic():
        for model in (KeptBuild, KeptSeries, KeptGap, WrittenSpan):
            model.objects.filter(store=store).delete()


# ---------------------------------------------------------------- readers


def _cover_rows(alias: str, table: str, **filters) -> list | None:
    from feefifofunds.models import KeptSeries

    if not is_built(alias, table):
        return None
    return list(KeptSeries.objects.filter(store=store_of(alias), **filters).values_list(
        "asset_id", "interval_minutes", "quote_currency", "source", "first_us", "last_us", "candles", "open_gaps"))


def coverage_rows(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE, *, asset_id: int | None = None,
                  ) -> list[tuple] | None:
    """(asset, interval, quote, source, first, last, candles, open gaps) of every kept series (of one asset);
    None when the store is not built."""
    return _cover_rows(alias, table, **({} if asset_id is None else {"asset_id": int(asset_id)}))


def series_pieces(key: SeriesKey, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
                  ) -> list[tuple[int, int, int, bool]] | None:
    """The series' kept runs as (start, end, candles, confirmed empty), by time; None when not built."""
    from feefifofunds.models import KeptGap

    if not is_built(alias, table):
        return None
    return list(KeptGap.objects.filter(store=store_of(alias), asset_id=key.asset_id,
                                       interval_minutes=key.interval_minutes, quote_currency=key.quote_currency,
                                       source=key.source).order_by("start_us").values_list(
        "start_us", "end_us", "missing", "confirmed_empty"))


def pieces_where(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE, *, asset_ids: Iterable[int] | None = None,
                 intervals: Iterable[int] | None = None, quote_currency: str | None = None,
                 source: str | None = None) -> list[tuple] | None:
    """Kept runs of the matching series as (asset, quote, interval, source, start, end, candles, confirmed
    empty, calendar), by series then time; None when not built."""
    from feefifofunds.models import KeptGap, KeptSeries

    if not is_built(alias, table):
        return None
    store = store_of(alias)
    filters: dict = {"store": store}
    if asset_ids is not None:
        filters["asset_id__in"] = sorted({int(a) for a in asset_ids})
    if intervals is not None:
        filters["interval_minutes__in"] = sorted({int(i) for i in intervals})
    if quote_currency is not None:
        filters["quote_currency"] = quote_currency.upper()
    if source is not None:
        filters["source"] = source
    judged = {(a, i, q, s): c for a, i, q, s, c in KeptSeries.objects.filter(**filters).exclude(
        calendar=calendars.ALWAYS).values_list("asset_id", "interval_minutes", "quote_currency", "source", "calendar")}
    rows = KeptGap.objects.filter(**filters).order_by(
        "asset_id", "quote_currency", "interval_minutes", "start_us").values_list(
        "asset_id", "quote_currency", "interval_minutes", "source", "start_us", "end_us", "missing",
        "confirmed_empty")
    return [(*r, judged.get((r[0], r[2], r[1], r[3]), calendars.ALWAYS)) for r in rows]


# ---------------------------------------------------------------- updates


def _confirmed(keys: Iterable[SeriesKey], lo_us: int | None = None, hi_us: int | None = None,
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


def _gap_rows(store: str, key: SeriesKey, runs: Iterable[Run], step_us: int,
              confirmed: dict[tuple[int, str, int], list[tuple[int, int]]]) -> list:
    from feefifofunds.models import KeptGap

    ranges = confirmed.get((key.asset_id, key.quote_currency, key.interval_minutes), [])
    return [KeptGap(store=store, asset_id=key.asset_id, interval_minutes=key.interval_minutes,
                    quote_currency=key.quote_currency, source=key.source, after_us=run.after_us,
                    before_us=run.before_us, start_us=p.start_us, end_us=p.end_us, missing=p.missing,
                    confirmed_empty=p.confirmed_empty)
            for run in runs for p in (pieces_of(run, step_us, ranges) if ranges else
                                      [Piece(run.start_us, run.end_us, run.missing, False)])]


def _series_row(store: str, key: SeriesKey, cover: Cover):
    from feefifofunds.models import KeptSeries

    return KeptSeries(store=store, asset_id=key.asset_id, interval_minutes=key.interval_minutes,
                      quote_currency=key.quote_currency, source=key.source, first_us=cover.first_us,
                      last_us=cover.last_us, candles=cover.candles, missing=cover.missing, open_gaps=cover.open_gaps,
                      regular=cover.regular, calendar=cover.calendar)


_SERIES_FIELDS = ["first_us", "last_us", "candles", "missing", "open_gaps", "regular", "calendar"]
_KEY_FIELDS = ["store", "asset_id", "interval_minutes", "quote_currency", "source"]


def _save(store: str, covers: dict[SeriesKey, Cover], gone_gap_ids: list[int], new_gaps: list,
          note_ids: list[int] = ()) -> None:
    """One transaction: the series' new coverage, their runs replaced, the notes applied deleted."""
    from feefifofunds.models import KeptGap, KeptSeries, WrittenSpan

    with transaction.atomic():
        for i in range(0, len(gone_gap_ids), 5000):
            KeptGap.objects.filter(pk__in=gone_gap_ids[i:i + 5000]).delete()
        KeptGap.objects.bulk_create(new_gaps, batch_size=5000)
        KeptSeries.objects.bulk_create([_series_row(store, k, c) for k, c in covers.items()], batch_size=5000,
                                       update_conflicts=True, unique_fields=_KEY_FIELDS, update_fields=_SERIES_FIELDS)
        for i in range(0, len(note_ids), 5000):
            WrittenSpan.objects.filter(pk__in=note_ids[i:i + 5000]).delete()
        _bump(store)


def _judged(keys: Iterable[SeriesKey]) -> dict[SeriesKey, str]:
    """The series among ``keys`` judged by market hours, with their calendar."""
    from feefifofunds.catalog import calendars_of

    keys = list(keys)
    hours = calendars_of({k.asset_id for k in keys}) if keys else {}
    return {k: hours[k.asset_id] for k in keys
            if k.asset_id in hours and not calendars.follows_grid(hours[k.asset_id], k.interval_minutes)}


def _by_sessions(store: str, keys: Iterable[tuple[SeriesKey, str]], *, alias: str, table: str, known: bool = True,
                 ) -> tuple[dict[SeriesKey, Cover], list[int], list]:
    """Series judged by a calendar, made again from all their stored times; ``known``: their kept runs exist
    and are replaced (their ids returned)."""
    from feefifofunds.models import KeptGap

    covers: dict[SeriesKey, Cover] = {}
    gone: list[int] = []
    new: list = []
    keys = list(keys)
    confirmed = _confirmed([k for k, _ in keys])
    for key, code in keys:
        if known:
            gone += list(KeptGap.objects.filter(store=store, asset_id=key.asset_id,
                                                interval_minutes=key.interval_minutes,
                                                quote_currency=key.quote_currency, source=key.source)
                         .values_list("pk", flat=True))
        stored = _stored_times(key, alias=alias, table=table)
        if not len(stored):
            continue
        step = key.interval_minutes * MICROS_PER_MINUTE
        runs = [Run(a, b, a, b, n) for a, b, n in calendars.missing_runs(code, key.interval_minutes, stored)]
        rows = _gap_rows(store, key, runs, step, confirmed)
        new += rows
        covers[key] = Cover(int(stored[0]), int(stored[-1]), len(stored), sum(r.missing for r in runs),
                            sum(not r.confirmed_empty for r in rows), regular=False, calendar=code)
    return covers, gone, new


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
    judged = _judged(keys)
    grid = sorted(keys - set(judged), key=lambda k: (k.asset_id, k.interval_minutes, k.quote_currency, k.source))
    covers: dict[SeriesKey, Cover] = {}
    gone: list[int] = []
    new: list = []
    if grid:
        where, params = _and(series_filter(grid), time_filter(wlo, whi))
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
        confirmed = _confirmed(fresh, lo, hi) if lo is not None else {}
        for key, runs in fresh.items():
            rows = _gap_rows(store, key, runs, key.interval_minutes * MICROS_PER_MINUTE, confirmed)
            new += rows
            cover = covers[key]
            cover.missing += sum(r.missing for r in runs)
            cover.open_gaps += sum(not r.confirmed_empty for r in rows)
            step = key.interval_minutes * MICROS_PER_MINUTE
            cover.candles = ((cover.last_us - cover.first_us) // step + 1 - cover.missing if cover.regular
                             else _count(key, cover, alias=alias, table=table))
    if judged:
        more, more_gone, more_new = _by_sessions(store, judged.items(), alias=alias, table=table)
        covers.update(more)
        gone += more_gone
        new += more_new
    _save(store, covers, gone, new, [n[0] for n in notes])
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


# ---------------------------------------------------------------- confirmed-empty ranges and calendars


def reconfirm(keys: Iterable[SeriesKey], alias: str = DEFAULT_ALIAS, table: str = schema.TABLE, *,
              lo_us: int | None = None, hi_us: int | None = None) -> None:
    """Split the kept runs of ``keys`` (those reaching into ``[lo_us, hi_us]``) again by their confirmed-empty
    ranges, after a backfill recorded some."""
    from feefifofunds.models import KeptGap, KeptSeries

    if not is_built(alias, table):
        return
    store = store_of(alias)
    keys = list(keys)
    confirmed = _confirmed(keys)
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
        rows = _gap_rows(store, key, whole, key.interval_minutes * MICROS_PER_MINUTE, confirmed)
        new += rows
        covers[key] = Cover(row.first_us, row.last_us, row.candles, row.missing,
                            row.open_gaps - was_open + sum(not r.confirmed_empty for r in rows), row.regular,
                            row.calendar)
    _save(store, covers, gone, new)


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
    covers, new = _built_chunk(store, f"asset_id IN ({_in_list(ids)})", [], alias=alias, table=table)
    with transaction.atomic():
        KeptSeries.objects.filter(store=store, asset_id__in=ids).delete()
        KeptGap.objects.filter(store=store, asset_id__in=ids).delete()
        _save(store, covers, [], new)
    return len(covers)


# ---------------------------------------------------------------- the build


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
    judged = _judged(summary)
    pairs: dict[SeriesKey, list[Run]] = defaultdict(list)
    for a, q, i, s, p, t in stored_runs(where, params, alias=alias, table=table):
        key = SeriesKey(int(a), int(i), str(q), str(s))
        run = grid_run(int(p), int(t), key.interval_minutes * MICROS_PER_MINUTE)
        if run is not None and key not in judged:
            pairs[key].append(run)
    keys = [k for k in summary if k not in judged]
    confirmed = _confirmed(keys)
    covers: dict[SeriesKey, Cover] = {}
    new: list = []
    for key in keys:
        first, last, count, off = summary[key]
        runs = pairs.get(key, [])
        rows = _gap_rows(store, key, runs, key.interval_minutes * MICROS_PER_MINUTE, confirmed)
        new += rows
        covers[key] = Cover(first, last, count, sum(r.missing for r in runs), sum(not r.confirmed_empty for r in rows),
                            off == 0)
    more, _, more_new = _by_sessions(store, judged.items(), alias=alias, table=table, known=False)
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
                _save(store, covers, [], new)
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
