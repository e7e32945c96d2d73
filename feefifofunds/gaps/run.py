"""One gap run, as ``backfill_kraken_gaps`` does it: survey the store, plan, then fill within the budget.

``survey`` reads only (QuestDB, the catalog and, when there are trailing gaps, Kraken's pair list for the
delisted ones); ``execute`` writes and must run under the store lock, which the command holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from feefifofunds.models import Asset, TradesProgress
from feefifofunds.sources import SourceError
from feefifofunds.sources.kraken_rest import KrakenRestSource
from feefifofunds.sources.kraken_trades import KrakenTradesSource
from feefifofunds.store import client, kept, schema

from .backfill import FillResult, backfill, failures
from .classify import classify
from .detection import Gap, kept_gaps, split_confirmed_empty
from .plan import AUTO, Plan, make_plan
from .scope import AssetLabel, Scope
from .trades_fill import Budget, SpanResult, estimate_spans, fill_span, forget_stale_progress
from .trailing import span_gap, trailing_gaps


class SurveyError(ValueError):
    """The options ask for something the store cannot answer (the message says what to do)."""


@dataclass
class Survey:
    plan: Plan
    confirmed_empty: list[Gap]
    labels: dict[int, AssetLabel]
    assets_scanned: int
    series_scanned: int
    no_data: list[str] = field(default_factory=list)
    pair_status_error: str = ""  # Kraken's pair list could not be read: delisted pairs not told apart


def survey(scope: Scope, source: KrakenRestSource, *, now: datetime, alias: str, interval: int | None = None,
           quote: str | None = None, since: datetime | None = None, method: str = AUTO, max_requests: int,
           max_minutes: float, rate_per_second: float, table: str = schema.TABLE) -> Survey:
    intervals = [interval] if interval else None
    try:
        series, real, confirmed_empty = kept_gaps(alias, asset_ids=scope.asset_ids, intervals=intervals,
                                                  quote_currency=quote, table=table)
    except kept.NotBuilt as exc:
        raise SurveyError(str(exc)) from None
    gaps = trailing_gaps(series, now)
    no_data: list[str] = []
    if since is not None or (interval and scope.asset_ids is not None and len(scope.asset_ids) == 1):
        gaps += _empty_series(scope, series, interval, quote, since, now, no_data)
    more_real, more_empty = split_confirmed_empty(gaps)  # the kept gaps are split already
    real += more_real
    confirmed_empty += more_empty
    gaps = real + confirmed_empty
    classified = classify(real, now)
    labels = scope.labels_for({s.asset_id for s in series} | {g.asset_id for g in gaps})
    delisted, status_error = _delisted(source, [c.gap for c in classified if c.gap.trailing], labels)
    under_way = set(TradesProgress.objects.values_list("asset_id", "quote_currency"))
    plan = make_plan(classified, method=method, max_requests=max_requests, max_minutes=max_minutes,
                     rate_per_second=rate_per_second, delisted=delisted, under_way=under_way,
                     estimates=lambda spans: estimate_spans(spans, alias=alias, table=table))
    return Survey(plan, confirmed_empty, labels, len({s.asset_id for s in series}), len(series), no_data,
                  status_error)


def _empty_series(scope: Scope, series, interval: int | None, quote: str | None, since: datetime | None,
                  now: datetime, no_data: list[str]) -> list[Gap]:
    """A series asked for by ``--asset`` and ``--interval`` with no candle at all: reported, or with
    ``--since`` filled from that date."""
    if not interval or scope.asset_ids is None or len(scope.asset_ids) != 1:
        raise SurveyError("--since fills one series that has no data yet: give it with --asset and --interval")
    (asset_id,) = scope.asset_ids
    asset = Asset.objects.get(pk=asset_id)
    wanted = (quote or asset.quote_currency).upper()
    if any(s.asset_id == asset_id and s.quote_currency == wanted for s in series):
        if since is not None:
            raise SurveyError(f"{asset.ticker}/{wanted} {interval} min has data already: its gaps and trailing gap "
                              f"are found without --since")
        return []
    if since is None:
        no_data.append(f"{asset.ticker}/{wanted} {interval} min has no candles stored; give --since DATE to fill "
                       f"it from that date")
        return []
    gap = span_gap(asset_id, wanted, interval, since, now)
    return [gap] if gap else []


def _delisted(source: KrakenRestSource, trailing: list[Gap],
              labels: dict[int, AssetLabel]) -> tuple[set[tuple[int, str]], str]:
    """Pairs with a trailing gap that Kraken lists as delisted (one AssetPairs request, only when needed)."""
    if not trailing:
        return set(), ""
    try:
        source.pairs()
    except SourceError as exc:
        return set(), str(exc)
    gone = set()
    for gap in trailing:
        label = labels.get(gap.asset_id)
        try:
            pair = source.pair_for(label.ticker if label else "", gap.quote_currency)
        except SourceError:
            continue  # an unknown pair fails when it is filled, with Kraken's message
        if pair.status == "delisted":
            gone.add((gap.asset_id, gap.quote_currency))
    return gone, ""


@dataclass
class Outcome:
    ohlc: list[FillResult]
    walks: list[SpanResult]

    @property
    def failed(self) -> list[FillResult | SpanResult]:
        """The OHLC fills and the walks that failed (the command's exit decision)."""
        return failures(self.ohlc) + [w for w in self.walks if w.error]


def execute(plan: Plan, labels: dict[int, AssetLabel], source: KrakenRestSource, budget: Budget, *, alias: str,
            table: str = schema.TABLE, on_series: Callable | None = None,
            on_page: Callable[[SpanResult], None] | None = None) -> Outcome:
    """OHLC gaps first (one request per series), then the walks over trades until the budget is spent."""
    tickers = {k: v.ticker for k, v in labels.items()}
    forget_stale_progress([p.span for p in plan.trades + plan.over_budget], labels)
    budget.spend_on(source)
    ohlc = backfill(plan.ohlc, tickers, source, alias=alias, table=table, on_series=on_series) if plan.ohlc else []
    walks: list[SpanResult] = []
    if plan.trades:
        trades = KrakenTradesSource(source)
        from feefifofunds.ingestion.writer import PriceWriter  # pyarrow and the ILP client: only a run that writes

        with PriceWriter(alias, table=table) as writer:
            for planned in plan.trades:
                span = planned.span
                result = fill_span(span, tickers[span.asset_id], trades, writer, budget, alias=alias, table=table,
                                   on_page=on_page)
                walks.append(result)
                if result.stopped:
                    break
        client.wait_for_wal(table, alias=alias)
    return Outcome(ohlc, walks)
