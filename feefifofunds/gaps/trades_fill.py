"""Fill gaps from Kraken's trade history: one walk over a pair's trades fills the gaps of every interval in it.

Gaps of one pair (any intervals) whose spans overlap are merged into one *span*: its trades are downloaded
once and give candles for all of them. Only the gaps' own candle times are written, and only those not
stored (a stored candle is never overwritten by one rebuilt from trades). A candle time the walk covered
without a trade is proven empty and goes to the confirmed-empty memory, so it stops showing as a gap.

Every run is bounded (``Budget``: requests and minutes). After each page the candles it completed are
flushed (acknowledged by QuestDB), then the empty times are recorded, then the walk's cursor is saved
(``TradesProgress``): a run stopped by its budget, a kill or an error resumes there next time and downloads
nothing twice (at most the one page in flight when it was killed).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING

import polars as pl

from feefifofunds.sources import CandleRequest, MultiIntervalSource, Source, SourceError
from feefifofunds.sources.http import ApiClient
from feefifofunds.sources.kraken_trades import PAGE_SIZE
from feefifofunds.store import client, schema
from feefifofunds.store.series import SeriesKey, stored_times
from feefifofunds.timeframes import epoch_micros, from_epoch_micros, naive_utc

from .detection import Gap, empty_runs, record_confirmed_empty

if TYPE_CHECKING:
    from feefifofunds.ingestion.writer import PriceWriter

MICROS = 1_000_000


@dataclass
class Budget:
    """What one run may spend: HTTP requests and wall-clock minutes (so a cron run always ends).

    The requests spent are counted here only: every request of the sources the budget is spent on
    (``spend_on``), from the moment each was added, once per HTTP client (the Trades source makes its
    requests on the REST source's client)."""

    max_requests: int
    max_minutes: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    _clients: list[tuple[ApiClient, int]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def spend_on(self, source: Source) -> None:
        """Count ``source``'s requests from now on (a client already counted is not counted twice)."""
        if not any(client is source.client for client, _ in self._clients):
            self._clients.append((source.client, source.client.requests))

    @property
    def used(self) -> int:
        return sum(client.requests - start for client, start in self._clients)

    def exhausted(self) -> str:
        """Why no further request may be made ("" while one may)."""
        if self.used >= self.max_requests:
            return f"request budget reached ({self.max_requests:,} requests, --max-requests)"
        if self.clock() - self.started >= self.max_minutes * 60:
            return f"time budget reached ({self.max_minutes:g} minutes, --max-minutes)"
        return ""


@dataclass
class TradesSpan:
    """Gaps of one pair whose spans overlap: one walk over ``[start, end)`` fills them all."""

    asset_id: int
    quote_currency: str
    start: datetime
    end: datetime  # exclusive
    gaps: list[Gap]
    trailing: bool = False  # one of the gaps is a trailing gap

    @property
    def intervals(self) -> tuple[int, ...]:
        return tuple(sorted({g.interval_minutes for g in self.gaps}))


_START = attrgetter("start")


def plan_spans(gaps: Iterable[Gap]) -> list[TradesSpan]:
    """Merge each pair's gaps whose time spans overlap (across intervals) into walks."""
    by_pair: dict[tuple[int, str], list[Gap]] = defaultdict(list)
    for gap in gaps:
        by_pair[(gap.asset_id, gap.quote_currency)].append(gap)
    spans: list[TradesSpan] = []
    steps: dict[int, timedelta] = {}
    for (asset_id, quote), pair_gaps in sorted(by_pair.items()):
        current: TradesSpan | None = None
        pair_gaps.sort(key=_START)
        for gap in pair_gaps:
            step = steps.get(gap.interval_minutes) or steps.setdefault(gap.interval_minutes, gap.step)
            end = gap.end + step
            if current is not None and gap.start < current.end:
                if end > current.end:
                    current.end = end
                current.gaps.append(gap)
                if gap.trailing:
                    current.trailing = True
            else:
                current = TradesSpan(asset_id, quote, gap.start, end, [gap], gap.trailing)
                spans.append(current)
    return spans


def estimate_trades(span: TradesSpan, *, alias: str, table: str = schema.TABLE) -> int | None:
    """Trades Kraken holds for one span (``estimate_spans`` for one)."""
    return estimate_spans([span], alias=alias, table=table)[0]


def estimate_spans(spans: Sequence[TradesSpan], *, alias: str, table: str = schema.TABLE) -> list[int | None]:
    """Trades Kraken holds for each span, from stored ``trade_count``: the stored candles of the interval that
    covers most of the span (each counted for the share of it inside the span, the rest scaled up), else the
    trade rate of the 100 candles just before it, of the span's longest interval. None: nothing to go by
    ("unknown").

    At most three queries whatever the number of spans (a survey holds hundreds of thousands): the covering
    candles of all spans at once, then the candles before the spans that need them (a window before each,
    then the whole history before the few whose window was too sparse); each span takes its rows from those
    by time, in the order QuestDB scans them, so the arithmetic is the same for one span or many."""
    spans = list(spans)
    if not spans:
        return []
    covering = _rows_by_pair(spans, _covering_windows(spans), alias=alias, table=table)
    estimates = [_from_covering(span, rows) for span, rows in zip(spans, covering, strict=True)]
    pending = [i for i, e in enumerate(estimates) if e is None]
    if pending:
        for i, rate in zip(pending, _from_before([spans[i] for i in pending], alias=alias, table=table),
                           strict=True):
            estimates[i] = rate
    return estimates


def _covering_windows(spans: Sequence[TradesSpan]) -> list[tuple[int, int]]:
    """Each span's window of candle times, ``(lo, hi)`` exclusive, in µs: from its longest interval (a day
    at least) before its start to its end."""
    return [(epoch_micros(s.start - timedelta(minutes=max(1440, *s.intervals))), epoch_micros(s.end))
            for s in spans]


def _rows_by_pair(spans: Sequence[TradesSpan], windows: Sequence[tuple[int, int]], *, alias: str,
                  table: str) -> list[list[tuple[int, int, int]]]:
    """``(interval, start in s, trade_count)`` of the Kraken candles of 60 minutes and longer with a trade count
    inside each span's window, in scan order: one query over the spans' assets and time range."""
    ids = sorted({s.asset_id for s in spans})
    rows = client.query(
        f"""SELECT asset_id, quote_currency, interval_minutes, cast(time AS LONG), cast(time AS LONG) / 1000000,
                   trade_count FROM {table}
            WHERE source = 'kraken' AND trade_count IS NOT NULL AND interval_minutes >= 60
              AND asset_id IN ({', '.join(str(int(i)) for i in ids)}) AND time > %s AND time < %s""",
        (naive_utc(from_epoch_micros(min(lo for lo, _ in windows))),
         naive_utc(from_epoch_micros(max(hi for _, hi in windows)))), alias=alias, binary=True)
    times: dict[tuple[int, str], list[int]] = defaultdict(list)
    values: dict[tuple[int, str], list[tuple[int, int, int]]] = defaultdict(list)
    for asset_id, quote, interval, micros, seconds, count in sorted(rows, key=itemgetter(3)):  # stable: ties keep
        times[(asset_id, quote)].append(micros)                                                # the scan's order
        values[(asset_id, quote)].append((interval, seconds, count))
    out = []
    for span, (lo, hi) in zip(spans, windows, strict=True):
        pair = (span.asset_id, span.quote_currency)
        pair_times = times.get(pair, [])
        out.append(values[pair][bisect_right(pair_times, lo):bisect_left(pair_times, hi)] if pair_times else [])
    return out


def _from_covering(span: TradesSpan, rows: Iterable[tuple[int, int, int]]) -> int | None:
    """The estimate from the candles covering the span; None when none covers any of it."""
    lo, hi = span.start.timestamp(), span.end.timestamp()
    covered: dict[int, float] = defaultdict(float)
    trades: dict[int, float] = defaultdict(float)
    for interval, start, count in rows:
        step = int(interval) * 60
        overlap = max(0.0, min(hi, start + step) - max(lo, start))
        covered[interval] += overlap
        trades[interval] += count * overlap / step
    if covered and max(covered.values()) > 0:
        best = max(covered, key=covered.get)
        return math.ceil(trades[best] * (hi - lo) / covered[best])
    return None


BEFORE = 100  # candles before a span whose trade rate it is given


def _from_before(spans: Sequence[TradesSpan], *, alias: str, table: str) -> list[int | None]:
    """The estimate from the trade rate of the ``BEFORE`` candles before each span, of its longest interval.

    Read in windows, not whole histories: first the ``WINDOW`` x ``BEFORE`` candle times before each span
    (one query over all of them); a span whose window held fewer than ``BEFORE`` stored candles (a sparse or
    young series) is read again over its whole history before it. The candles a span is given are the same
    either way: a window holding ``BEFORE`` of them holds the last ``BEFORE``."""
    rows = _before_rows(spans, WINDOW, alias=alias, table=table)
    out = [_rate_before(span, rows, WINDOW) for span in spans]
    again = [i for i, rate in enumerate(out) if rate is _SHORT]
    if again:
        rows = _before_rows([spans[i] for i in again], None, alias=alias, table=table)
        for i in again:
            out[i] = _rate_before(spans[i], rows, None)
    return out


WINDOW = 2  # the first read before a span covers this many times BEFORE candle times
_SHORT = object()  # the window held too few candles: read further back


def _window_lo(span: TradesSpan, window: int | None) -> int:
    """The first candle time (µs) read before the span: ``window`` x ``BEFORE`` steps back, 0 for all."""
    if window is None:
        return 0
    return max(0, epoch_micros(span.start) - window * BEFORE * span.intervals[-1] * 60 * MICROS)


def _before_rows(spans: Sequence[TradesSpan], window: int | None, *, alias: str,
                 table: str) -> dict[tuple[int, str, int], tuple[list[int], list[int | None]]]:
    """``(times µs, trade counts)`` by series of the candles before the spans (their windows merged per
    interval where they overlap; one query, a ``UNION ALL`` of one part per merged window)."""
    windows: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for s in spans:
        windows[s.intervals[-1]].append((_window_lo(s, window), epoch_micros(s.start), s.asset_id))
    parts = []
    params: list = []
    for interval, items in sorted(windows.items()):
        items.sort()
        merged: list[tuple[int, int, set[int]]] = []
        for lo, hi, asset_id in items:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi), merged[-1][2] | {asset_id})
            else:
                merged.append((lo, hi, {asset_id}))
        for lo, hi, ids in merged:
            parts.append(f"""SELECT asset_id, quote_currency, interval_minutes, cast(time AS LONG) t, trade_count
                FROM {table} WHERE source = 'kraken' AND interval_minutes = {int(interval)}
                AND asset_id IN ({', '.join(map(str, sorted(ids)))}) {'AND time >= %s ' if lo else ''}AND time < %s""")
            params += [naive_utc(from_epoch_micros(t)) for t in ((lo, hi) if lo else (hi,))]
    rows = client.query(" UNION ALL ".join(parts), tuple(params), alias=alias, binary=True)
    out: dict[tuple[int, str, int], tuple[list[int], list[int | None]]] = {}
    for asset_id, quote, interval, micros, count in sorted(rows, key=itemgetter(3)):
        times, counts = out.get((asset_id, quote, interval)) or out.setdefault((asset_id, quote, interval), ([], []))
        times.append(micros)
        counts.append(count)
    return out


def _rate_before(span: TradesSpan, rows, window: int | None) -> int | None | object:
    """The span's estimate from the last ``BEFORE`` candles before it; ``_SHORT`` when its window holds fewer
    and the series may hold more before it."""
    interval = span.intervals[-1]
    series_times, series_counts = rows.get((span.asset_id, span.quote_currency, interval), ([], []))
    lo = _window_lo(span, window)
    first = bisect_left(series_times, lo)
    end = bisect_left(series_times, epoch_micros(span.start))
    if end - first < BEFORE and lo > 0:
        return _SHORT
    begin = max(first, end - BEFORE)
    known = [c for c in series_counts[begin:end] if c is not None]
    if not known:
        return None
    seconds = (series_times[end - 1] - series_times[begin]) / MICROS + interval * 60
    return math.ceil(sum(known) * (span.end.timestamp() - span.start.timestamp()) / seconds)


def requests_for(trades: int | None) -> int | None:
    """Pages of 1,000 trades, plus the answer that shows the span's end was passed."""
    return None if trades is None else math.ceil(trades / PAGE_SIZE) + 1


@dataclass
class SpanResult:
    span: TradesSpan
    written: dict[Gap, int] = field(default_factory=lambda: defaultdict(int))
    empty: dict[Gap, int] = field(default_factory=lambda: defaultdict(int))
    requests: int = 0
    done: bool = False
    stopped: str = ""  # the budget's reason, when the walk was cut short
    error: str = ""


def _stored_times(gap: Gap, *, alias: str, table: str) -> set[int]:
    """Unix seconds of the gap's candles stored since it was detected (none, unless a write came between)."""
    key = SeriesKey(gap.asset_id, gap.interval_minutes, gap.quote_currency, "kraken")
    times = stored_times(key, start=gap.start, last=gap.end, alias=alias, table=table)
    return {epoch_micros(t) // MICROS for t in times}


@dataclass
class _Progress:
    """The saved walk this span continues (if any), and where it began."""

    span: TradesSpan
    start: datetime
    cursor: str | None = None

    @classmethod
    def load(cls, span: TradesSpan) -> _Progress:
        from feefifofunds.models import TradesProgress

        saved = (TradesProgress.objects.filter(asset_id=span.asset_id, quote_currency=span.quote_currency,
                                               start__lte=span.start, reached__gte=span.start)
                 .order_by("-reached").first())
        return cls(span, saved.start, saved.cursor) if saved else cls(span, span.start)

    def save(self, cursor: str | None, reached: datetime) -> None:
        from feefifofunds.models import TradesProgress

        rows = TradesProgress.objects.filter(asset_id=self.span.asset_id, quote_currency=self.span.quote_currency,
                                             start=self.start)
        if cursor is None:
            rows.delete()
        else:
            TradesProgress.objects.update_or_create(
                asset_id=self.span.asset_id, quote_currency=self.span.quote_currency, start=self.start,
                defaults={"cursor": cursor, "reached": reached})
        self.cursor = cursor


def forget_stale_progress(spans: Iterable[TradesSpan], asset_ids: Iterable[int]) -> int:
    """Drop saved walks of these assets that no span continues any more (their gaps were filled another way,
    e.g. from the OHLC endpoint once they came within its window, or from the archive)."""
    from feefifofunds.models import TradesProgress

    starts: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for s in spans:
        starts[(s.asset_id, s.quote_currency)].append(s.start)
    for pair_starts in starts.values():
        pair_starts.sort()
    stale = []
    for row in TradesProgress.objects.filter(asset_id__in=set(asset_ids)):
        pair_starts = starts.get((row.asset_id, row.quote_currency), [])
        first = bisect_left(pair_starts, row.start)  # the first span starting at or after the walk's start
        if first == len(pair_starts) or pair_starts[first] > row.reached:
            stale.append(row.pk)
    TradesProgress.objects.filter(pk__in=stale).delete()
    return len(stale)


def fill_span(span: TradesSpan, ticker: str, source: MultiIntervalSource, writer: PriceWriter, budget: Budget, *,
              alias: str, table: str = schema.TABLE,
              on_page: Callable[[SpanResult], None] | None = None) -> SpanResult:
    """Walk the span's trades page by page within the budget; write missing candles, record proven-empty ones.

    The caller owns the store lock, the source's session and the writer; candles are stored under
    ``source.name``."""
    result = SpanResult(span)
    budget.spend_on(source)
    stored: dict[Gap, set[int]] = {}
    progress = _Progress.load(span)
    while True:
        result.stopped = budget.exhausted()
        if result.stopped:
            return result
        request = CandleRequest(ticker=ticker, quote_currency=span.quote_currency,
                                interval_minutes=span.intervals[0], start=span.start, end=span.end,
                                cursor=progress.cursor)
        before = budget.used
        try:
            pages = source.fetch_pages(request, span.intervals, max_requests=1)
        except SourceError as exc:
            result.error = str(exc)
            return result
        finally:
            result.requests += budget.used - before
        empties: list[Gap] = []
        for gap in span.gaps:
            minutes = gap.interval_minutes
            page = pages[minutes]
            if page.covered_until <= gap.start or page.covered_from > gap.end:
                continue  # this page covered none of the gap
            if gap not in stored:
                stored[gap] = _stored_times(gap, alias=alias, table=table)
            ts = pl.col("time")
            candles = page.candles.filter((ts >= gap.start) & (ts <= gap.end))
            if stored[gap]:
                candles = candles.filter(~ts.dt.epoch("s").is_in(list(stored[gap])))
            if candles.height:
                writer.add(candles, SeriesKey(gap.asset_id, minutes, gap.quote_currency, source.name))
                result.written[gap] += candles.height
            have = set(candles.get_column("time").dt.epoch("s").to_list()) | stored[gap]
            runs = empty_runs(gap, page.covered_from, page.covered_until, have)
            empties.extend(runs)
            result.empty[gap] += sum(r.missing_candles for r in runs)
        writer.flush()  # acknowledged before the cursor moves on: a kill loses no written candle
        record_confirmed_empty(empties, alias)
        progress.save(pages[span.intervals[0]].cursor, max(p.covered_until for p in pages.values()))
        if on_page:
            on_page(result)
        if progress.cursor is None:
            result.done = True
            return result
