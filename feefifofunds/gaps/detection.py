"""Find the missing candles of every series, inside QuestDB.

A *series* is (asset_id, quote_currency, interval_minutes) for one source. Its gaps are the runs of missing
candle times between its first and its last stored candle: one window-function pass (``lag()`` over the
series, ordered by time) finds every pair of consecutive candles further apart than one interval, so only
the gaps, never the candles, reach Python. Works for any interval (1..1440 minutes and beyond), and covers
both whole missing days and missing intervals inside a day.

Series of assets whose market keeps hours (``Asset.calendar``: an exchange or 24/5, see ``calendars``) are
judged against their sessions instead: their stored times (API series: daily or intraday, small) are
compared with the expected candle times of the calendar, vectorised in numpy, and a gap is a run of
consecutive expected candles that are missing (a weekend, a holiday or the night is none).

Missing Kraken candles usually mean that nobody traded in that interval: ``split_confirmed_empty`` sets
apart the ranges a backfill already confirmed empty with Kraken (``ConfirmedEmptyRange``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import NamedTuple

import numpy as np
import polars as pl

from feefifofunds import calendars
from feefifofunds.store import client, kept, schema
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.series import SeriesKey
from feefifofunds.timeframes import EPOCH, epoch_micros, from_epoch_micros

MICROS_PER_MINUTE = 60_000_000


class Gap(NamedTuple):
    """A run of missing candles; ``start``/``end`` are the times of the first and last missing candle (UTC).

    ``trailing``: the run after the series' last stored candle, up to the last finished candle (see ``trailing``).
    ``calendar``: what the gap was judged by; a series with market hours counts its missing sessions (or
    in-session candles) in ``missing_candles``, and ``times()`` are those.

    A named tuple, not a dataclass: a survey of a large store makes hundreds of thousands of them, and a
    tuple is built and hashed several times faster.
    """

    asset_id: int
    quote_currency: str
    interval_minutes: int
    start: datetime
    end: datetime
    missing_candles: int
    trailing: bool = False
    calendar: str = calendars.ALWAYS

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.interval_minutes)

    @property
    def series(self) -> tuple[int, str, int]:
        """(asset_id, quote_currency, interval_minutes): the first three fields."""
        return self[:3]

    def times(self) -> list[datetime]:
        if not calendars.follows_grid(self.calendar, self.interval_minutes):
            return [from_epoch_micros(t) for t in calendars.expected_times(self.calendar, self.interval_minutes,
                                                                          self.start, self.end)]
        return [self.start + i * self.step for i in range(self.missing_candles)]


@dataclass(frozen=True)
class SeriesInfo:
    asset_id: int
    quote_currency: str
    interval_minutes: int
    first: datetime
    last: datetime
    candles: int


def _check_identifier(table: str) -> str:
    if not table.replace("_", "").isalnum():
        raise ValueError(f"invalid table name {table!r}")
    return table


def _filters(source: str, asset_ids: Iterable[int] | None, intervals: Iterable[int] | None,
             quote_currency: str | None) -> tuple[str, list]:
    where = ["source = %s"]
    params: list = [source]
    if asset_ids is not None:
        ids = sorted({int(a) for a in asset_ids})
        if not ids:
            return "", []  # nothing can match
        where.append(f"asset_id IN ({', '.join(str(i) for i in ids)})")
    if intervals is not None:
        ivs = sorted({int(i) for i in intervals})
        if not ivs:
            return "", []
        where.append(f"interval_minutes IN ({', '.join(str(i) for i in ivs)})")
    if quote_currency is not None:
        where.append("quote_currency = %s")
        params.append(quote_currency.upper())
    return " AND ".join(where), params


_GAP_ORDER = attrgetter("asset_id", "quote_currency", "interval_minutes", "start")


def detect_gaps(alias: str = DEFAULT_ALIAS, *, asset_ids: Iterable[int] | None = None,
                intervals: Iterable[int] | None = None, quote_currency: str | None = None,
                source: str = "kraken", table: str = schema.TABLE) -> list[Gap]:
    """Every gap of every matching series, sorted by series then time, from a scan of the prices (the kept
    gaps, ``store.kept``, are the same without the scan). ``None`` filters mean "all"."""
    table = _check_identifier(table)
    asset_ids = None if asset_ids is None else {int(a) for a in asset_ids}
    where, params = _filters(source, asset_ids, intervals, quote_currency)
    if not where:
        return []
    from feefifofunds.catalog import calendars_of

    with_hours = calendars_of(asset_ids)  # assets judged by their sessions, not by the 24/7 grid
    rows = kept.stored_runs(where, params, alias=alias, table=table, asset_ids=asset_ids)
    gaps = []
    append = gaps.append
    for asset_id, quote, interval, _source, prev_us, t_us in rows:
        if asset_id in with_hours and not calendars.follows_grid(with_hours[asset_id], int(interval)):
            continue
        step = int(interval) * MICROS_PER_MINUTE
        # Candle times continue the grid of the previous candle; an off-grid candle ends the run before it.
        missing = (t_us - prev_us - 1) // step
        if missing <= 0:
            continue
        first = prev_us + step
        # EPOCH + timedelta(0, 0, us) is from_epoch_micros(us), inlined: tens of thousands of gaps per scan.
        append(Gap(int(asset_id), str(quote), int(interval), EPOCH + timedelta(0, 0, first),
                   EPOCH + timedelta(0, 0, first + (missing - 1) * step), int(missing)))
    if with_hours:
        gaps.extend(_session_gaps(table, where, params, with_hours, alias))
    gaps.sort(key=_GAP_ORDER)
    return gaps


def _session_gaps(table: str, where: str, params: list, with_hours: dict[int, str], alias: str) -> list[Gap]:
    """The gaps of the matching series of assets with a calendar: one query for their stored times, then per
    series the expected times of its span minus the stored ones, as runs."""
    ids = ", ".join(str(int(a)) for a in sorted(with_hours))
    rows = client.query(
        f"SELECT asset_id, quote_currency, interval_minutes, cast(time AS LONG) t_us FROM {table} "
        f"WHERE {where} AND asset_id IN ({ids}) AND interval_minutes <= {calendars.MAX_CALENDAR_INTERVAL}",
        params, alias=alias, binary=True)
    if not rows:
        return []
    frame = pl.DataFrame(rows, schema={"asset_id": pl.Int64, "quote": pl.String, "interval": pl.Int64,
                                       "t_us": pl.Int64}, orient="row")
    gaps: list[Gap] = []
    for (asset_id, quote, interval), part in frame.partition_by(["asset_id", "quote", "interval"],
                                                                as_dict=True).items():
        code = with_hours[asset_id]
        if calendars.follows_grid(code, interval):
            continue
        gaps.extend(session_gaps(asset_id, quote, interval, code, np.unique(part.get_column("t_us").to_numpy())))
    return gaps


def session_gaps(asset_id: int, quote_currency: str, interval_minutes: int, code: str,
                 stored_us: np.ndarray) -> list[Gap]:
    """Runs of expected candles (calendar ``code``) missing between the first and last of ``stored_us``
    (sorted epoch microseconds): ``calendars.missing_runs`` as gaps."""
    return [Gap(asset_id, quote_currency, interval_minutes, from_epoch_micros(a), from_epoch_micros(b), n,
                calendar=code) for a, b, n in calendars.missing_runs(code, interval_minutes, stored_us)]


def list_series(alias: str = DEFAULT_ALIAS, *, asset_ids: Iterable[int] | None = None,
                intervals: Iterable[int] | None = None, quote_currency: str | None = None,
                source: str = "kraken", table: str = schema.TABLE) -> list[SeriesInfo]:
    """The matching series with their first and last candle and candle count (one aggregate query)."""
    table = _check_identifier(table)
    where, params = _filters(source, asset_ids, intervals, quote_currency)
    if not where:
        return []
    rows = client.query(
        f"""SELECT asset_id, quote_currency, interval_minutes, min(cast(time AS LONG)), max(cast(time AS LONG)),
                   count() FROM {table} WHERE {where} ORDER BY asset_id, quote_currency, interval_minutes""",
        params, alias=alias)
    return [SeriesInfo(int(a), str(q), int(i), from_epoch_micros(lo), from_epoch_micros(hi), int(n))
            for a, q, i, lo, hi, n in rows]


def kept_gaps(alias: str = DEFAULT_ALIAS, *, asset_ids: Iterable[int] | None = None,
              intervals: Iterable[int] | None = None, quote_currency: str | None = None, source: str = "kraken",
              table: str = schema.TABLE) -> tuple[list[SeriesInfo], list[Gap], list[Gap]]:
    """The matching series and their (real, confirmed-empty) gaps as the store keeps them (``store.kept``):
    what ``list_series``, ``detect_gaps`` and ``split_confirmed_empty`` find, read from the catalog instead of
    scanned. Raises ``kept.NotBuilt`` when the store's gaps are not built yet."""
    kept.catch_up(alias, table)
    pieces = kept.pieces_where(alias, table, asset_ids=asset_ids, intervals=intervals,
                               quote_currency=quote_currency, source=source)
    covered = kept.coverage_rows(alias, table)
    if pieces is None or covered is None:
        raise kept.NotBuilt()
    rows, judged = pieces
    ids = None if asset_ids is None else {int(a) for a in asset_ids}
    ivs = None if intervals is None else {int(i) for i in intervals}
    quote = None if quote_currency is None else quote_currency.upper()
    series = sorted((SeriesInfo(a, q, i, from_epoch_micros(lo), from_epoch_micros(hi), n)
                     for a, i, q, s, lo, hi, n, _ in covered
                     if s == source and (ids is None or a in ids) and (ivs is None or i in ivs)
                     and (quote is None or q == quote)),
                    key=attrgetter("asset_id", "quote_currency", "interval_minutes"))
    real: list[Gap] = []
    empty: list[Gap] = []
    always = calendars.ALWAYS
    for a, q, i, s, start, end, n, confirmed in rows:
        (empty if confirmed else real).append(Gap(a, q, i, EPOCH + timedelta(0, 0, start),
                                                  EPOCH + timedelta(0, 0, end), n, False,
                                                  judged.get((a, i, q, s), always) if judged else always))
    return series, real, empty


# --- confirmed-empty ranges ----------------------------------------------------------------------------

def index_runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def empty_runs(gap: Gap, covered_from: datetime | None, covered_until: datetime | None,
               present: Collection[int]) -> list[Gap]:
    """The gap's candle times in ``[covered_from, covered_until)`` without a candle in ``present`` (epoch
    seconds), as runs: what a source's answer proves empty (nobody traded). Both bounds None: the answer
    covered nothing. Only the covered stretch is looked at, so a long gap costs what the answer covered."""
    if covered_from is None or covered_until is None:
        return []
    step, seconds, first = gap.step, gap.interval_minutes * 60, int(gap.start.timestamp())
    a = max(0, -((gap.start - covered_from) // step))  # the first candle at or after covered_from
    b = min(gap.missing_candles, -((gap.start - covered_until) // step))  # the first at or after covered_until
    idx = [i for i in range(a, b) if first + i * seconds not in present]
    return [Gap(gap.asset_id, gap.quote_currency, gap.interval_minutes, gap.start + i * step, gap.start + j * step,
                j - i + 1) for i, j in index_runs(idx)]


def subtract_ranges(gap: Gap, ranges: Iterable[tuple[datetime, datetime]]) -> tuple[list[Gap], list[Gap]]:
    """Split one gap by inclusive time ranges: (parts outside every range, parts inside one)."""
    step_us = gap.interval_minutes * MICROS_PER_MINUTE
    start_us = epoch_micros(gap.start)
    parts = kept.split_run(start_us, step_us, gap.missing_candles,
                           [(epoch_micros(lo), epoch_micros(hi)) for lo, hi in ranges])
    if len(parts) == 1 and not parts[0][2]:
        return [gap], []
    out: tuple[list[Gap], list[Gap]] = ([], [])
    for a, b, inside in parts:
        out[inside].append(Gap(gap.asset_id, gap.quote_currency, gap.interval_minutes, gap.start + a * gap.step,
                               gap.start + b * gap.step, b - a + 1, gap.trailing))
    return out


def split_confirmed_empty(gaps: Iterable[Gap]) -> tuple[list[Gap], list[Gap]]:
    """(real gaps, confirmed-empty gaps): the parts of ``gaps`` that a backfill confirmed have no Kraken
    candle (no trades) are set apart; a gap partly confirmed is split into its pieces."""
    from feefifofunds.models import ConfirmedEmptyRange

    gaps = list(gaps)
    if not gaps:
        return [], []
    stored: dict[tuple[int, str, int], list[tuple[datetime, datetime]]] = defaultdict(list)
    qs = ConfirmedEmptyRange.objects.filter(asset_id__in={g.asset_id for g in gaps},
                                            interval_minutes__in={g.interval_minutes for g in gaps})
    for asset_id, quote, interval, start, end in qs.values_list("asset_id", "quote_currency",
                                                                "interval_minutes", "start", "end"):
        stored[(asset_id, quote, interval)].append((start, end))
    real: list[Gap] = []
    empty: list[Gap] = []
    for gap in gaps:
        ranges = [(lo, hi) for lo, hi in stored.get(gap.series, ()) if lo <= gap.end and hi >= gap.start]
        if not ranges:
            real.append(gap)
            continue
        outside, inside = subtract_ranges(gap, ranges)
        real.extend(outside)
        empty.extend(inside)
    return real, empty


def record_confirmed_empty(gaps: Iterable[Gap], alias: str = DEFAULT_ALIAS, source: str = "kraken") -> int:
    """Remember ranges Kraken confirmed have no candle, so later scans report them apart; the kept gaps of
    those series are split again at once (``kept.reconfirm``)."""
    from feefifofunds.models import ConfirmedEmptyRange

    gaps = list(gaps)
    objs = [ConfirmedEmptyRange(asset_id=g.asset_id, quote_currency=g.quote_currency,
                                interval_minutes=g.interval_minutes, start=g.start, end=g.end) for g in gaps]
    ConfirmedEmptyRange.objects.bulk_create(objs)
    if gaps:
        kept.reconfirm({SeriesKey(g.asset_id, g.interval_minutes, g.quote_currency, source) for g in gaps}, alias,
                       lo_us=min(epoch_micros(g.start) for g in gaps), hi_us=max(epoch_micros(g.end) for g in gaps))
    return len(objs)
