"""What the price store holds and how to read it: coverage per series and candles (optionally resampled).

A *series* is (asset, interval, quote currency, source). Used by the dashboard, the JSON API, exports and
``price_summary``; nothing here knows about HTTP.

Bounded work: the coverage of every series (and, in ``gaps.summary``, its gaps) is read from what the store
keeps (``store.kept``: an index read in the catalog, never a scan of the prices) at most once per *store
version* (the table's applied WAL transaction and row count, the state of the confirmed-empty memory, the
assets' calendars and the kept state's own version) and cached in Django's cache, shared by every server
worker. A write by a cron job, or a changed calendar, changes the version, so every worker sees it on its
next request. A store whose kept state is not built yet is scanned for its coverage (and says "gaps not
built yet" for its gaps). Trailing gaps (last candle to now) depend on the clock and are computed at read
time.

Prices are read only through ``feefifofunds.store.client`` (QuestDB over PGWire). Every value is a bind
parameter; the only text put into SQL is the interval of ``SAMPLE BY``, an integer checked against
``RESAMPLE_TARGETS`` first.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from feefifofunds.timeframes import EPOCH, as_utc, epoch_micros, from_epoch_micros

from . import client, kept, schema
from .config import DEFAULT_ALIAS
from .series import SeriesKey, series_where

# Coarser targets a series can be resampled to (all divide a day, so calendar alignment is midnight UTC).
RESAMPLE_TARGETS: tuple[int, ...] = (5, 15, 30, 60, 240, 720, 1440)

CANDLE_COLUMNS: tuple[str, ...] = ("time", "open", "high", "low", "close", "volume", "trade_count", "vwap")
RESAMPLED_COLUMNS: tuple[str, ...] = ("time", "open", "high", "low", "close", "volume", "trade_count")


class CoverageError(ValueError):
    """A request that cannot be answered as asked (the message is for the user)."""


@dataclass(frozen=True)
class SeriesCoverage:
    asset_id: int
    interval_minutes: int
    quote_currency: str
    source: str
    first: datetime
    last: datetime
    candles: int
    # Every candle lies on the interval's grid (as kept); False when not known.
    regular: bool = False

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.asset_id, self.interval_minutes, self.quote_currency, self.source)

    @property
    def fill(self) -> float:
        """The share of the grid slots from the first candle to the last that hold a candle."""
        slots = (self.last - self.first) // timedelta(minutes=self.interval_minutes) + 1
        return min(1.0, self.candles / max(1, slots))


def can_resample(interval: int, target: int) -> bool:
    return target in RESAMPLE_TARGETS and target > interval and target % interval == 0


# ---------------------------------------------------------------- store version and cache


def store_version(*, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> str:
    """Changes whenever what a reader sees changes: the table (its id), its applied WAL transactions and row
    count, and the confirmed-empty memory. Cheap: QuestDB metadata plus an aggregate of a small table."""
    from django.db.models import Count, Max

    from feefifofunds.models import ConfirmedEmptyRange

    kept.catch_up(alias, table)
    cfg = client.get_config(alias)
    wal = client.query("SELECT w.writerTxn, t.id FROM wal_tables() w JOIN tables() t ON w.name = t.table_name "
                       "WHERE w.name = %s", (table,), alias=alias)
    rows = client.query(f"SELECT count() FROM {table}", alias=alias)[0][0]
    memory = ConfirmedEmptyRange.objects.aggregate(n=Count("id"), last=Max("id"), at=Max("confirmed_at"))
    at = memory["at"].timestamp() if memory["at"] else 0
    txn, table_id = wal[0] if wal else (0, 0)
    return (f"{cfg.host}:{cfg.pg_port}:{table}:{table_id}:{txn}:{rows}:{memory['n']}:{memory['last']}:{at}:"
            f"{calendar_state()}:{kept.version(alias, table)}")


def calendar_state() -> str:
    """Changes when an asset's calendar changes (gaps are judged by it): the assets that keep hours, their
    number and latest change; an asset moved to 24/7 leaves the count."""
    from django.db.models import Count, Max

    from feefifofunds.calendars import ALWAYS
    from feefifofunds.models import Asset

    state = Asset.objects.exclude(calendar=ALWAYS).aggregate(n=Count("id"), at=Max("updated_at"), ids=Max("id"))
    at = state["at"].timestamp() if state["at"] else 0
    return f"{state['n']}:{state['ids']}:{at}"


def cache_key(kind: str, version: str, series: object = None) -> str:
    digest = hashlib.sha1(f"{version}|{series}".encode()).hexdigest()
    return f"fff:{kind}:{digest}"


def shared_cache():
    from django.core.cache import caches

    return caches["default"]


def cached(kind: str, version: str, compute):
    """``compute()`` once per store version (for readers that derive their own views of the store)."""
    return cached_at(cache_key(kind, version), compute)


_memo: dict[str, object] = {}
MEMO_ENTRIES = 4096


def cached_at(key: str, compute):
    """The value for ``key``: from this process' memory, else the shared cache, else computed and stored in both.
    Keys carry the store version, so nothing is ever stale; the memory is only bounded."""
    value = _memo.get(key)
    if value is not None:
        return value
    cache = shared_cache()
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value)
    if len(_memo) >= MEMO_ENTRIES:
        _memo.clear()
    _memo[key] = value
    return value


# ---------------------------------------------------------------- coverage


def _scan_coverage(alias: str, table: str, asset_id: int | None = None) -> list[SeriesCoverage]:
    """From the kept coverage when the store is built (an index read), else from a scan of the prices."""
    rows = kept.coverage_rows(alias, table, asset_id=asset_id)
    regular = kept.regular_series(alias, table, asset_id=asset_id) if rows is not None else None
    if rows is not None and regular is not None:
        out = [SeriesCoverage(a, i, q, s, from_epoch_micros(lo), from_epoch_micros(hi), n,
                              SeriesKey(a, i, q, s) in regular)
               for a, i, q, s, lo, hi, n, _ in rows]
        out.sort(key=lambda c: (c.asset_id, c.quote_currency, c.interval_minutes, c.source))
        return out
    where, params = ("", []) if asset_id is None else (" WHERE asset_id = %s", [int(asset_id)])
    rows = client.query(
        "SELECT asset_id, interval_minutes, quote_currency, source, min(time), max(time), count() "
        f"FROM {table}{where} GROUP BY asset_id, interval_minutes, quote_currency, source",
        params, alias=alias,
    )
    out = [SeriesCoverage(int(a), int(i), str(q), str(s), as_utc(lo), as_utc(hi), int(n))
           for a, i, q, s, lo, hi, n in rows]
    out.sort(key=lambda c: (c.asset_id, c.quote_currency, c.interval_minutes, c.source))
    return out


def series_coverage(
    *, asset_id: int | None = None, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE, version: str | None = None
) -> list[SeriesCoverage]:
    """First and last candle and candle count of every series (of one asset, or of all); cached per version.

    One asset's coverage comes from the whole store's when that is already known, else from a query of that
    asset only."""
    version = version or store_version(alias=alias, table=table)
    every_key = cache_key("coverage", version)
    if asset_id is None:
        return cached_at(every_key, lambda: _scan_coverage(alias, table))

    def of_asset() -> list[SeriesCoverage]:
        every = _memo.get(every_key) or shared_cache().get(every_key)
        if every is None:
            return _scan_coverage(alias, table, int(asset_id))
        return [c for c in every if c.asset_id == int(asset_id)]

    return cached_at(cache_key("asset-coverage", version, int(asset_id)), of_asset)


def sources_of(
    asset_id: int, interval: int, quote_currency: str, *, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE
) -> list[str]:
    return sorted({c.source for c in series_coverage(asset_id=asset_id, alias=alias, table=table)
                   if c.interval_minutes == int(interval) and c.quote_currency == quote_currency})


def default_quote(series: Iterable[SeriesCoverage], interval: int, source: str | None, preferred: str) -> str:
    """No quote currency asked for: the series that exists; USD first when there are several, then the
    asset's own, then alphabetical (the one rule for the API, the dashboard and the export)."""
    quotes = {c.quote_currency for c in series if c.interval_minutes == interval and source in (None, c.source)}
    for choice in ("USD", preferred):
        if choice in quotes:
            return choice
    return min(quotes) if quotes else preferred


# ---------------------------------------------------------------- candles

# A page is read window by window in time order (``candles``): QuestDB's cost is the rows of every series in
# the queried time range (README: reads at scale), so each window spans only what the page can still need:
# its candles' grid slots, more for a series with gaps (``fill``: the share of its slots that hold a candle).
# Each window after a short one is WINDOW_GROWTH times wider; a series whose last candle is not known is read
# to its end once OPEN_ENDED_AFTER windows came back short.
WINDOW_GROWTH = 4
OPEN_ENDED_AFTER = 4
# A page (not resampled) of a series whose candles all lie on its interval's grid (``regular``) may be read at
# its grid times only: a repeating interval ('<first>;1u;<interval>m;<count>') makes QuestDB's interval scan
# jump from one grid time to the next, past the finer series' rows in between. Each grid time is an interval
# (and a task) of its own, worth about GRID_ROWS_PER_TIME rows of a whole read, so a window is read at its
# grid times when it holds more rows than that per grid time (QuestDB counts a time range's rows from its
# binary search alone), and whole otherwise; never with more than GRID_MAX_TIMES grid times. Resampled pages
# are not read at grid times: each grid time would be a task of its own, adding up every bucket's volume in
# another order than a whole read does (its last bit could differ).
GRID_ROWS_PER_TIME = 5_000
GRID_MAX_TIMES = 20_000


def window_end(lo: datetime, remaining: int, step_minutes: int, windows_read: int, fill: float = 1.0) -> datetime:
    """The end of the next window from ``lo``: room for ``remaining`` candles (or buckets) of ``step_minutes``
    (``remaining / fill`` slots and that again times the share missing, at most 15 times ``remaining``),
    WINDOW_GROWTH times more per window already read, rounded up to the step's grid on the epoch, so a
    resampled bucket never spans two windows."""
    step = step_minutes * 60_000_000
    fill = min(1.0, max(fill, 1 / 8))
    slots = math.ceil(remaining * (2 - fill) / fill)
    reach = epoch_micros(lo) + slots * step * WINDOW_GROWTH ** windows_read
    return from_epoch_micros(-(-reach // step) * step)


def grid_times(interval: int, lo: datetime, hi: datetime) -> tuple[str, int] | None:
    """The grid times of ``interval`` in [lo, hi) as one QuestDB repeating interval (each one microsecond
    long) and their number; None when there are none or more than GRID_MAX_TIMES."""
    step = interval * 60_000_000
    first = -(-epoch_micros(lo) // step) * step
    count = (epoch_micros(hi) - 1 - first) // step + 1
    if not 0 < count <= GRID_MAX_TIMES:
        return None
    return f"{from_epoch_micros(first):%Y-%m-%dT%H:%M:%S.%fZ};1u;{interval}m;{count}", count


def window_grid(interval: int, lo: datetime, hi: datetime, alias: str = DEFAULT_ALIAS,
                table: str = schema.TABLE) -> str | None:
    """The grid times to read a window of a regular series at (``grid_times``), when the window holds more
    than GRID_ROWS_PER_TIME rows (of every series) per grid time; else None: the window is read whole."""
    grid = grid_times(interval, lo, hi)
    if grid is None:
        return None
    where, params = series_where(start=lo, end=hi)
    rows = client.query(f"SELECT count() FROM {table} WHERE {where}", params, alias=alias)[0][0]
    return grid[0] if rows > GRID_ROWS_PER_TIME * grid[1] else None


def candles(
    asset_id: int,
    interval: int,
    quote_currency: str,
    *,
    source: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    resample: int | None = None,
    after: datetime | None = None,
    limit: int = 1000,
    first: datetime | None = None,
    last: datetime | None = None,
    regular: bool = False,
    fill: float = 1.0,
    alias: str = DEFAULT_ALIAS,
    table: str = schema.TABLE,
) -> list[tuple]:
    """One page of candles in [start, end) ordered by time, beginning at ``after`` (inclusive).

    With ``resample`` the candles are aggregated in QuestDB into calendar-aligned buckets of that many
    minutes (first open, max high, min low, last close, summed volume and trade count); ``after`` must
    then be a bucket start. Rows are tuples in ``CANDLE_COLUMNS`` / ``RESAMPLED_COLUMNS`` order with
    UTC-aware times.

    ``first`` and ``last`` are the series' first and last candle times when known (its coverage): the page is
    then read in windows between them that hold no more than it needs (``window_end``), so QuestDB scans the
    page's time span, not the series' whole range. Without a lower bound the page is one query. ``regular``:
    every candle of the series lies on its interval's grid, so a window of a page that is not resampled may
    be read at its grid times only (``window_grid``). ``fill``: the share of the series' grid slots that hold
    a candle, which widens the windows of a page not resampled (``window_end``).
    """
    limit = int(limit)
    if resample is not None:
        resample = int(resample)
        if not can_resample(interval, resample):
            raise CoverageError(f"cannot resample {interval}-minute candles to {resample} minutes")
    lower = max((t for t in (start, after, first) if t is not None), default=None)
    upper = min((t for t in (end, None if last is None else last + timedelta(microseconds=1)) if t is not None),
                default=None)
    if limit < 1 or (lower is not None and upper is not None and upper <= lower):
        return []

    # A 1-minute series' grid is every minute, where every candle of every series lies: nothing to skip.
    on_grid = regular and resample is None and interval > 1

    def read(lo: datetime | None, hi: datetime | None, count: int) -> list[tuple]:
        grid = window_grid(interval, lo, hi, alias, table) if on_grid and lo is not None and hi is not None else None
        return query_candles(asset_id, interval, quote_currency, source, lo, hi, resample, count, alias, table,
                             grid=grid)

    if lower is None:
        return read(None, upper, limit)
    return read_windows(read, lower, upper, resample or interval, limit, 1.0 if resample else fill)


def read_windows(read: Callable[[datetime, datetime | None, int], list[tuple]], lower: datetime,
                 upper: datetime | None, step_minutes: int, limit: int, fill: float = 1.0) -> list[tuple]:
    """The first ``limit`` rows of [lower, upper) in time order, read as consecutive windows: ``read(lo, hi,
    count)`` answers at most ``count`` rows of [lo, hi) (``hi`` None: no end) in time order. The next window
    is read only when the rows so far are short of ``limit`` and ``upper`` is not reached."""
    rows: list[tuple] = []
    lo, windows_read = lower, 0
    while True:
        remaining = limit - len(rows)
        hi: datetime | None
        if upper is None and windows_read >= OPEN_ENDED_AFTER:
            hi = None
        else:
            hi = window_end(lo, remaining, step_minutes, windows_read, fill)
            hi = hi if upper is None else min(hi, upper)
        rows += read(lo, hi, remaining)
        windows_read += 1
        if len(rows) >= limit or hi is None or hi == upper:
            return rows
        lo = hi


def candles_sql(asset_id: int, interval: int, quote_currency: str, source: str | None, start: datetime | None,
                end: datetime | None, resample: int | None, limit: int, table: str = schema.TABLE, *,
                grid: str | None = None) -> tuple[str, list[object]]:
    """The query of one window of candles in [start, end) and its parameters (``candles`` reads through it);
    ``grid``: only the times of this repeating interval (``window_grid``)."""
    where, params = series_where(asset_id, interval, quote_currency, source, start=start, end=end)
    if grid is not None:
        where += " AND time IN %s"
        params.append(grid)
    if resample is None:
        sql = f"SELECT {', '.join(CANDLE_COLUMNS)} FROM {table} WHERE {where} ORDER BY time LIMIT %s"
    else:
        sql = (
            "SELECT * FROM ("
            "SELECT time, first(open) open, max(high) high, min(low) low, last(close) close, "
            "sum(volume) volume, sum(trade_count) trade_count "
            f"FROM {table} WHERE {where} SAMPLE BY {int(resample):d}m ALIGN TO CALENDAR"
            ") ORDER BY time LIMIT %s"
        )
    params.append(int(limit))
    # The time travels as microseconds since the epoch (a binary integer) and becomes an aware UTC datetime
    # by one addition to a timedelta numpy makes in C: per row far cheaper than a naive timestamp given its
    # time zone (datetime.replace) or a timedelta made in Python.
    columns = RESAMPLED_COLUMNS if resample is not None else CANDLE_COLUMNS
    return f"SELECT cast(time AS LONG) time_us, {', '.join(columns[1:])} FROM ({sql})", params


def query_candles(asset_id: int, interval: int, quote_currency: str, source: str | None, start: datetime | None,
                  end: datetime | None, resample: int | None, limit: int, alias: str = DEFAULT_ALIAS,
                  table: str = schema.TABLE, *, grid: str | None = None) -> list[tuple]:
    """The first ``limit`` candles (or buckets) of [start, end) in one query: one window of ``candles``."""
    sql, params = candles_sql(asset_id, interval, quote_currency, source, start, end, resample, limit, table,
                              grid=grid)
    rows = client.query(sql, params, alias=alias, binary=True)
    since_epoch = np.array([r[0] for r in rows], dtype="timedelta64[us]").astype(object).tolist()
    if resample is None:  # the common, large case: unpacking the row is cheaper than slicing it
        return [(EPOCH + d, o, h, lo, c, v, n, w)
                for d, (_, o, h, lo, c, v, n, w) in zip(since_epoch, rows, strict=True)]
    return [(EPOCH + d,) + r[1:] for d, r in zip(since_epoch, rows, strict=True)]


def series_candles(cov: SeriesCoverage, **kwargs) -> list[tuple]:
    """``candles`` of a known series: read within its first and last candle (its coverage)."""
    return candles(cov.asset_id, cov.interval_minutes, cov.quote_currency, source=cov.source, first=cov.first,
                   last=cov.last, regular=cov.regular, fill=cov.fill, **kwargs)


def iter_candles(
    asset_id: int, interval: int, quote_currency: str, *, source: str | None = None,
    start: datetime | None = None, end: datetime | None = None, chunk_rows: int = 100_000,
    alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
) -> Iterator[list[tuple]]:
    """Chunks of at most ``chunk_rows`` candles of one source (all sources in time order when None), by
    keyset pagination on time (bounded memory), each chunk read within the series' span (its coverage)."""
    spans = [c for c in series_coverage(asset_id=asset_id, alias=alias, table=table)
             if c.interval_minutes == int(interval) and c.quote_currency == quote_currency
             and source in (None, c.source)]
    if not spans:
        return
    first, last = min(c.first for c in spans), max(c.last for c in spans)
    regular = all(c.regular for c in spans)
    fill = spans[0].fill if len(spans) == 1 else 1.0
    after: datetime | None = None
    while True:
        rows = candles(asset_id, interval, quote_currency, source=source, start=start, end=end, after=after,
                       limit=chunk_rows, first=first, last=last, regular=regular, fill=fill, alias=alias,
                       table=table)
        if not rows:
            return
        yield rows
        if len(rows) < chunk_rows:
            return
        after = rows[-1][0] + timedelta(microseconds=1)
