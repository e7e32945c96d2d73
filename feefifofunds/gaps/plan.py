"""Which way each gap is filled, and what the run will cost, decided before any request is made.

- **OHLC** (``--method auto`` or ``ohlc``): the gap lies within the OHLC endpoint's window (all its candles
  among the 719 finished ones an answer holds) and its interval is offered there. One request per series.
- **Trades** (``auto`` for everything else, or ``--method trades`` for every gap): gaps of one pair whose
  spans overlap share one walk over the pair's trades (``trades_fill.plan_spans``), for every interval at once.
- **Delisted**: a trailing gap of a pair Kraken lists as delisted is not a gap: nothing traded after its end.
- **Unfillable**: beyond the OHLC window with ``--method ohlc``, or **over this run's budget** (a later run
  picks it up: trailing spans and spans already under way go first, then the newest).

The cost: requests expected (OHLC: one per series; trades: pages of 1,000 trades, estimated from stored
``trade_count``, or unknown) and the time that takes at the configured rate limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

from .classify import REASON_TOO_OLD, ClassifiedGap
from .detection import Gap
from .trades_fill import TradesSpan, plan_spans, requests_for

AUTO, OHLC, TRADES = "auto", "ohlc", "trades"
METHODS = (AUTO, OHLC, TRADES)
REASON_OVER_BUDGET = "over_budget"
ESTIMATE_BATCH = 500  # walks estimated at once (two queries), until the run's budget is taken


class PlannedSpan(NamedTuple):
    """A walk over trades and its estimate (a named tuple: a large store plans tens of thousands)."""

    span: TradesSpan
    trades: int | None  # estimated trades in the span (None: unknown, or not estimated)
    estimated: bool = True  # False: over budget beyond the batches estimated (a later run estimates it)

    @property
    def requests(self) -> int | None:
        return requests_for(self.trades)


@dataclass
class Plan:
    ohlc: list[ClassifiedGap] = field(default_factory=list)
    trades: list[PlannedSpan] = field(default_factory=list)  # walks this run starts, in order
    over_budget: list[PlannedSpan] = field(default_factory=list)  # left for a later run
    unfillable: list[ClassifiedGap] = field(default_factory=list)  # out of reach of the method asked for
    delisted: list[Gap] = field(default_factory=list)
    judged: list[ClassifiedGap] = field(default_factory=list)  # every gap of the survey, classified
    _by_gap: dict[int, ClassifiedGap] | None = field(default=None, repr=False, compare=False)
    _left: tuple[tuple[int, int], list[ClassifiedGap]] | None = field(default=None, repr=False, compare=False)

    @property
    def to_fill(self) -> int:
        """Gaps this run fills: the OHLC ones and those of the walks it starts."""
        return len(self.ohlc) + sum(len(p.span.gaps) for p in self.trades)

    @property
    def ohlc_requests(self) -> int:
        return len({c.gap.series for c in self.ohlc})

    @property
    def trades_requests(self) -> int:
        return sum(p.requests or 0 for p in self.trades)

    def duration(self, rate_per_second: float) -> timedelta | None:
        """Time at the rate limit for the requests expected (None without a rate limit)."""
        if rate_per_second <= 0:
            return None
        return timedelta(seconds=(self.ohlc_requests + self.trades_requests) / rate_per_second)

    def classification(self, gap: Gap) -> ClassifiedGap:
        """The classification of one of the plan's gaps (the very object the survey gave: looked up by
        identity, which costs a fraction of hashing hundreds of thousands of gaps by value)."""
        return self._index()[id(gap)]

    def _index(self) -> dict[int, ClassifiedGap]:
        if self._by_gap is None:
            self._by_gap = {id(c.gap): c for c in self.judged}
        return self._by_gap

    def unfillable_gaps(self) -> list[ClassifiedGap]:
        """Everything this run leaves: out of the method's reach, then over the budget. Made once per plan (the
        report, its summary line and the CSV all ask, and a large store leaves hundreds of thousands)."""
        key = (len(self.unfillable), len(self.over_budget))
        if self._left is None or self._left[0] != key:
            by_gap = self._index()
            over = [by_gap[id(g)] for p in self.over_budget for g in p.span.gaps]
            self._left = (key, self.unfillable + [
                ClassifiedGap(c.gap, c.candles_from_today, False, c.overflow_candles, REASON_OVER_BUDGET)
                for c in over])
        return self._left[1]


def make_plan(classified: Sequence[ClassifiedGap], *, method: str = AUTO, max_requests: int, max_minutes: float,
              rate_per_second: float, estimates: Callable[[Sequence[TradesSpan]], Sequence[int | None]],
              delisted: Iterable[tuple[int, str]] = (), under_way: Iterable[tuple[int, str]] = ()) -> Plan:
    """Assign every gap a method and choose the walks that fit this run's budget.

    ``estimates`` gives the trades of a batch of spans in one call (a set-based read, not one per span),
    called batch by batch in the plan's order until the budget is taken: the walks over budget in those
    batches are shown with their size, the others as not estimated. Linear in the gaps otherwise."""
    plan = Plan(judged=list(classified))
    gone = set(delisted)
    to_trades: list[Gap] = []
    for c in classified:
        if c.gap.trailing and (c.gap.asset_id, c.gap.quote_currency) in gone:
            plan.delisted.append(c.gap)
        elif method != TRADES and c.fillable:
            plan.ohlc.append(c)
        elif method == OHLC:
            plan.unfillable.append(c)
        else:
            to_trades.append(c.gap)
    started = set(under_way)
    spans = sorted(plan_spans(to_trades), key=lambda s: (
        (s.asset_id, s.quote_currency) not in started, not s.trailing, -s.start.timestamp()))
    requests = 1 + plan.ohlc_requests  # the pair lookup, then one OHLC answer per series
    seconds_per_request = 1 / rate_per_second if rate_per_second > 0 else 0.0

    def fits() -> bool:
        return requests < max_requests and requests * seconds_per_request < max_minutes * 60

    # Estimated a batch at a time, in the plan's order, while the budget has room: the survey reads the stored
    # candles around the walks a run can take, not around every old gap of the store.
    at = 0
    while at < len(spans) and fits():
        batch = spans[at:at + ESTIMATE_BATCH]
        for span, trades in zip(batch, estimates(batch), strict=True):
            planned = PlannedSpan(span, trades)
            if fits():
                plan.trades.append(planned)
                requests += planned.requests or 1
            else:
                plan.over_budget.append(planned)
        at += len(batch)
    plan.over_budget.extend(PlannedSpan(span, None, False) for span in spans[at:])
    return plan


def reason_text(c: ClassifiedGap) -> str:
    if c.reason == REASON_OVER_BUDGET:
        return "over this run's budget (--max-requests / --max-minutes): a later run picks it up"
    if c.reason == REASON_TOO_OLD:
        return "beyond the OHLC window (--method ohlc)"
    return "not offered by the OHLC endpoint (--method ohlc)"
