"""Runs of missing candles and the reads of the price table they come from.

A series' runs are the pairs of consecutive stored candles further apart than one interval (``grid_run``),
split where a backfill confirmed the candles empty (``split_run``); the queries here read them, and each
series' first and last candle, count and off-grid candles, for any filter and time range.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass

from feefifofunds import calendars
from feefifofunds.timeframes import from_epoch_micros, naive_utc

from .. import client
from ..series import SeriesKey, series_where

MICROS_PER_MINUTE = 60_000_000


DAY_US = 1440 * MICROS_PER_MINUTE


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


def in_list(values: Iterable[int]) -> str:
    return ", ".join(str(int(v)) for v in sorted(set(values)))


def series_filter(keys: Iterable[SeriesKey]) -> tuple[str, list]:
    """A filter that keeps every row of ``keys`` (and maybe of other series: callers pick theirs out)."""
    keys = list(keys)
    quotes = sorted({k.quote_currency for k in keys})
    sources = sorted({k.source for k in keys})
    where = (f"asset_id IN ({in_list(k.asset_id for k in keys)}) AND "
             f"interval_minutes IN ({in_list(k.interval_minutes for k in keys)}) AND "
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


def all_of(*parts: tuple[str, list]) -> tuple[str, list]:
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


def series_counts(where: str, params: list, *, alias: str, table: str) -> dict[tuple[int, int, str, str], int]:
    """Candles per (asset, interval, quote, source) among the rows matching ``where``."""
    rows = client.query(f"SELECT asset_id, interval_minutes, quote_currency, source, count() FROM {table} "
                        f"WHERE {where} GROUP BY asset_id, interval_minutes, quote_currency, source", params,
                        alias=alias)
    return {(int(a), int(i), str(q), str(s)): int(n) for a, i, q, s, n in rows}


LAST_WINDOW_US = DAY_US  # the first window back from the table's last candle where series' last ones are looked for


def last_times(where: str, params: list, keys: Iterable[tuple[int, int, str, str]], *, alias: str, table: str,
               ) -> dict[tuple[int, int, str, str], int]:
    """The last stored candle (epoch microseconds) of each of ``keys`` ((asset, interval, quote, source), each
    with rows matching ``where``). Windows of time back from the table's last candle, each four times as long
    as the one before, each asking only for the assets of the series not found yet: series that end near the
    table's end cost a scan of the recent rows (the designated timestamp bounds the scan), not a full one."""
    wanted = set(keys)
    found: dict[tuple[int, int, str, str], int] = {}
    if not wanted:
        return found
    low, high = client.query(f"SELECT cast(min(time) AS LONG), cast(max(time) AS LONG) FROM {table}",
                             alias=alias)[0]
    hi, width = int(high) + 1, LAST_WINDOW_US
    while wanted:
        lo = max(int(low), hi - width)
        ids = in_list(k[0] for k in wanted)
        rows = client.query(
            f"""SELECT asset_id, interval_minutes, quote_currency, source, cast(max(time) AS LONG) FROM {table}
                WHERE ({where}) AND asset_id IN ({ids}) AND time >= %s AND time < %s
                GROUP BY asset_id, interval_minutes, quote_currency, source""",
            [*params, naive_utc(from_epoch_micros(lo)), naive_utc(from_epoch_micros(hi))], alias=alias)
        for a, i, q, s, t in rows:
            key = (int(a), int(i), str(q), str(s))
            if key in wanted:
                found[key] = int(t)
                wanted.discard(key)
        if lo <= int(low):
            break
        hi, width = lo, width * 4
    if wanted:
        raise client.QuestDBError(f"no stored candle found for {len(wanted)} series that have one")
    return found


RunRow = tuple[int, str, int, str, int, int]  # asset, quote, interval, source, earlier, later


def asset_parts(where: str, params: list, asset_ids: Iterable[int] | None, *, alias: str, table: str,
                parts: int = 2) -> list[str]:
    """Up to ``parts`` disjoint filters that together keep every row (a NULL asset id included), split at asset
    ids evenly spread over ``asset_ids`` (a ``range`` is not listed) or, for all, over the rows' id range:
    QuestDB computes a window function on one thread, and queries over disjoint parts run on as many. One empty
    filter when there is nothing to split."""
    if asset_ids is not None:
        ids = asset_ids if isinstance(asset_ids, range) and asset_ids.step == 1 else sorted(set(asset_ids))
        cuts = sorted({ids[len(ids) * k // parts] for k in range(1, parts)}) if len(ids) >= 2 else []
    else:
        low, high = client.query(f"SELECT min(asset_id), max(asset_id) FROM {table} WHERE {where}", params,
                                 alias=alias)[0]
        if low is None or high is None or low >= high:
            return [""]
        cuts = sorted({int(low) + (int(high) - int(low) + 1) * k // parts for k in range(1, parts)} - {int(low)})
    if not cuts:
        return [""]
    return ([f" AND asset_id < {int(cuts[0])}"]
            + [f" AND asset_id >= {int(a)} AND asset_id < {int(b)}" for a, b in zip(cuts, cuts[1:], strict=False)]
            + [f" AND (asset_id >= {int(cuts[-1])} OR asset_id = NULL)"])


NO_PREV = -(2**62)  # the earlier time of a series' first candle in a window pass with ``firsts``


def one_row_per_time(table: str, *, alias: str) -> bool:
    """Whether ``table`` holds at most one row per series and time: DEDUP on, keyed on the series' columns and
    time (or fewer of them)."""
    dedup = client.query("SELECT dedup FROM tables() WHERE table_name = %s", (table,), alias=alias)
    if not dedup or not dedup[0][0]:
        return False
    keys = {str(c) for c, up in client.query(f"SELECT \"column\", upsertKey FROM table_columns('{table}')",
                                             alias=alias) if up}
    return keys <= {"time", "asset_id", "interval_minutes", "quote_currency", "source"}


def stored_run_parts(where: str, params: list, *, alias: str, table: str, asset_ids: Iterable[int] | None = None,
                     firsts: bool = False, repeats: bool = False, close: bool = False, parts: int = 2,
                     ) -> Iterator[list[RunRow]]:
    """Every pair of consecutive stored candles of a series further apart than one interval, among the rows
    matching ``where``: (asset id, quote, interval, source, earlier, later), times in epoch microseconds.
    ``firsts``: each series' first candle too, as a row whose earlier time is ``NO_PREV`` (``lag()``'s default,
    so the filter stays one comparison); with ``repeats``, each candle stored again at the time of the one
    before it (a table without DEDUP), as a row whose two times are equal; with ``close``, every pair of
    consecutive candles not exactly one interval apart (repeats and candles closer than an interval too: a
    store on its grid has none).

    One window-function pass (``lag()`` over each series ordered by time), so only the gaps reach Python; the
    window carries the timestamp itself (the difference of two TIMESTAMPs is microseconds) and only the rows
    that leave are cast to LONG. Two threads over ``parts`` disjoint parts of the asset ids (``asset_parts``),
    each part's rows given as soon as they are read (a series lies in one part), so the caller can work on
    one part while QuestDB reads the others."""
    lag = f"lag(time, 1, cast({NO_PREV}L AS TIMESTAMP))" if firsts else "lag(time)"
    if close and not firsts:
        raise ValueError("close pairs are read with the series' first candles (firsts)")
    if close:  # a repeat is 0 apart: kept by the comparison itself
        keep, apart = "", "!="
    else:
        keep, apart = ("time = prev OR " if repeats else "") if firsts else "prev IS NOT NULL AND ", ">"

    def query(part: str) -> list[tuple]:
        return client.query(f"""
            SELECT asset_id, quote_currency, interval_minutes, source, cast(prev AS LONG), cast(time AS LONG)
            FROM (
                SELECT asset_id, quote_currency, interval_minutes, source, time,
                       {lag} OVER (
                           PARTITION BY asset_id, quote_currency, interval_minutes, source ORDER BY time
                       ) AS prev
                FROM {table}
                WHERE {where}{part}
            )
            WHERE {keep}time - prev {apart} cast(interval_minutes AS LONG) * {MICROS_PER_MINUTE}L
        """, params, alias=alias)

    filters = asset_parts(where, params, asset_ids, alias=alias, table=table, parts=parts)
    if len(filters) == 1:
        yield query("")
        return
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        for done in as_completed([pool.submit(query, part) for part in filters]):
            yield done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def stored_runs(where: str, params: list, *, alias: str, table: str, asset_ids: Iterable[int] | None = None,
                ) -> list[tuple[int, str, int, str, int, int]]:
    """``stored_run_parts`` in one list (in no particular order): the runs of two halves of the asset ids."""
    return [row for part in stored_run_parts(where, params, alias=alias, table=table, asset_ids=asset_ids)
            for row in part]


def stored_times_of(key: SeriesKey, *, alias: str, table: str):
    import numpy as np

    where, params = series_where(**asdict(key))
    rows = client.query(f"SELECT cast(time AS LONG) FROM {table} WHERE {where}", params, alias=alias, binary=True)
    return np.unique(np.asarray([t for (t,) in rows], dtype=np.int64))


def count_series(key: SeriesKey, cover: Cover, *, alias: str, table: str) -> int:
    where, params = series_where(**asdict(key), start=from_epoch_micros(cover.first_us),
                                 last=from_epoch_micros(cover.last_us))
    return int(client.query(f"SELECT count() FROM {table} WHERE {where}", params, alias=alias)[0][0])
