"""The survey of many gaps on real QuestDB: the trades estimates of all spans read in a fixed number of
queries (equal, span by span, to the per-span rule), and the report's lists bounded."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from feefifofunds.cli.gaps import DEFAULT_MAX_SERIES
from feefifofunds.gaps.detection import detect_gaps, list_series
from feefifofunds.gaps.plan import ESTIMATE_BATCH
from feefifofunds.gaps.trades_fill import TradesSpan, _from_covering, estimate_spans, plan_spans
from feefifofunds.gaps.trailing import trailing_gaps
from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.sources import CANDLE_SCHEMA
from feefifofunds.store import client
from feefifofunds.store.series import SeriesKey
from feefifofunds.timeframes import naive_utc
from tests.support import kraken_gaps
from tests.support.kraken_gaps import CURRENT_HOUR, HOUR, grid, hours, make_asset, run

fake_kraken = kraken_gaps.fake_kraken  # fixture
pytestmark = pytest.mark.django_db

DAY0 = datetime(2023, 6, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def write(series: dict[SeriesKey, tuple[list[datetime], list[int | None]]]) -> None:
    """Candles with the given trade counts (None: no count), every series in one write."""
    with PriceWriter("questdb") as writer:
        for key, (times, counts) in series.items():
            n = len(times)
            frame = pl.DataFrame({"time": times, "open": [1.0] * n, "high": [1.0] * n, "low": [1.0] * n,
                                  "close": [1.0] * n, "volume": [1.0] * n, "trade_count": counts,
                                  "vwap": [1.0] * n}, schema=CANDLE_SCHEMA)
            writer.add(frame, key)
    client.wait_for_wal("assetprice", alias="questdb")


def per_span_estimate(span: TradesSpan) -> int | None:
    """The rule, one span at a time with its own two queries (the candles covering it, else the 100 before it):
    the reference the set-based reads must equal."""
    lo, hi = span.start.timestamp(), span.end.timestamp()
    longest = max(1440, *span.intervals)
    rows = client.query(
        """SELECT interval_minutes, cast(time AS LONG) / 1000000, trade_count FROM assetprice
           WHERE asset_id = %s AND quote_currency = %s AND source = 'kraken' AND trade_count IS NOT NULL
             AND interval_minutes >= 60 AND time > %s AND time < %s""",
        (span.asset_id, span.quote_currency, naive_utc(span.start - timedelta(minutes=longest)),
         naive_utc(span.end)), alias="questdb")
    covering = _from_covering(span, rows)  # the arithmetic on the span's own rows, as QuestDB returns them
    if covering is not None:
        return covering
    before = client.query(
        """SELECT sum(trade_count), min(time), max(time), first(interval_minutes) FROM (
               SELECT time, trade_count, interval_minutes FROM assetprice
               WHERE asset_id = %s AND quote_currency = %s AND source = 'kraken' AND interval_minutes = %s
                 AND time < %s ORDER BY time DESC LIMIT 100)""",
        (span.asset_id, span.quote_currency, span.intervals[-1], naive_utc(span.start)), alias="questdb")
    total, first, last, interval = before[0] if before else (None, None, None, None)
    if total is None or first is None:
        return None
    seconds = (last - first).total_seconds() + int(interval) * 60
    return math.ceil(total * (hi - lo) / seconds)


@pytest.fixture
def spied(monkeypatch):
    """Every SQL statement ``client.query`` runs (the real one still answers)."""
    statements: list[str] = []
    real = client.query

    def spy(sql, *args, **kwargs):
        statements.append(sql)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(client, "query", spy)
    return statements


def test_estimates_of_many_spans_equal_the_per_span_rule_in_three_queries(questdb, spied):
    rnd = random.Random(20)
    btc, eth, sol, xdg = make_asset("BTC"), make_asset("ETH"), make_asset("SOL"), make_asset("XDG")
    minutes = grid(DAY0, 3 * 1440, 1)
    hourly = grid(DAY0, 3 * 24, 60)
    daily = grid(DAY0 - 20 * timedelta(days=1), 23, 1440)

    def holes(times: list[datetime], share: float) -> list[datetime]:
        return [t for t in times if rnd.random() > share]

    def counts(times: list[datetime], nulls: float = 0.0) -> list[int | None]:
        return [None if rnd.random() < nulls else rnd.randint(0, 500) for _ in times]

    series = {
        # BTC: 1-minute candles with holes, hourly and daily candles (some without a trade count) covering them.
        SeriesKey(btc.pk, 1, "USD", "kraken"): holes(minutes, 0.02),
        SeriesKey(btc.pk, 60, "USD", "kraken"): holes(hourly, 0.1),
        SeriesKey(btc.pk, 1440, "USD", "kraken"): holes(daily, 0.2),
        SeriesKey(btc.pk, 60, "EUR", "kraken"): holes(hourly, 0.3),
        # ETH: 1-minute candles only, nothing coarser: every estimate is the rate of the candles before.
        SeriesKey(eth.pk, 1, "USD", "kraken"): holes(minutes[:2000], 0.05),
        # SOL: daily candles with holes and whole missing days of hourly ones.
        SeriesKey(sol.pk, 1440, "USD", "kraken"): holes(daily, 0.3),
        SeriesKey(sol.pk, 60, "USD", "kraken"): holes(hourly, 0.4),
        # ETH/EUR: sparse hourly candles over five weeks, nothing coarser: the window before a late span holds
        # fewer than 100 of them, so its 100 are read from further back.
        SeriesKey(eth.pk, 60, "EUR", "kraken"): holes(grid(DAY0 - 32 * timedelta(days=1), 35 * 24, 60), 0.7),
        # XDG: daily candles without a trade count: nothing to go by.
        SeriesKey(xdg.pk, 1440, "USD", "kraken"): holes(daily, 0.3),
    }
    write({key: (times, counts(times, nulls=1.0 if key.asset_id == xdg.pk else 0.1 if key.interval_minutes >= 60
                               else 0.0))
           for key, times in series.items()})
    gaps = detect_gaps("questdb") + trailing_gaps(list_series("questdb"), DAY0 + timedelta(days=5))
    spans = plan_spans(gaps)
    assert len(spans) > 150

    spied.clear()
    estimates = estimate_spans(spans, alias="questdb")
    # One read of the covering candles, one of a window before each span, one further back for the spans whose
    # window was too sparse: whatever the spans.
    assert len(spied) == 3
    assert "time >= %s" in spied[1] and "time >= %s" not in spied[2]
    assert estimates == [per_span_estimate(s) for s in spans]
    assert None in estimates and len(set(estimates)) > 20


def test_survey_queries_do_not_grow_with_the_spans(questdb, fake_kraken, spied):
    few, many = make_asset("BTC"), make_asset("ETH")
    write({SeriesKey(few.pk, 1, "USD", "kraken"): (grid(DAY0, 30, 1, skip=set(range(1, 30, 3))), [5] * 20),
           SeriesKey(few.pk, 60, "USD", "kraken"): (grid(DAY0, 2, 60), [600, 600]),
           SeriesKey(many.pk, 1, "USD", "kraken"): (grid(DAY0, 600, 1, skip=set(range(1, 600, 3))), [5] * 400),
           SeriesKey(many.pk, 60, "USD", "kraken"): (grid(DAY0, 11, 60), [600] * 11)})

    run("--dry-run", "--asset", "BTC", "--method", "trades")  # the first meeting binds the store to the catalog
    spied.clear()
    out_few = run("--dry-run", "--asset", "BTC", "--method", "trades")
    queries_few = len(spied)
    spied.clear()
    out_many = run("--dry-run", "--asset", "ETH", "--method", "trades")
    # The trailing walk (a year and more of trades) takes the budget; each missing minute is a walk of its own.
    assert "Left for a later run (over budget): 10 gaps, about 20 requests" in out_few
    assert "Left for a later run (over budget): 200 gaps, about 400 requests" in out_many
    assert len(spied) == queries_few


def test_report_lists_the_first_series_and_totals_for_the_rest(questdb, tmp_path):
    n = DEFAULT_MAX_SERIES + 3
    old = CURRENT_HOUR - 2000 * HOUR  # beyond the OHLC window of hourly candles
    assets = [make_asset(f"A{i:02d}") for i in range(n)]
    times = [h for h in hours(old - 5 * HOUR, CURRENT_HOUR - HOUR)
             if h not in (old, CURRENT_HOUR - 10 * HOUR)]  # one old and one recent missing hour per series
    write({SeriesKey(a.pk, 60, "USD", "kraken"): (times, [3] * len(times)) for a in assets})
    path = tmp_path / "unfillable.csv"
    out = run("--dry-run", "--method", "ohlc", "--export-unfillable", str(path))

    assert out.count(" - 60 min interval:") == 2 * DEFAULT_MAX_SERIES  # API-fillable and unfillable sections
    assert "A19 (TIER1)" in out and "A20 (TIER1)" not in out
    assert "… and 3 more series (3 gaps, 3 candles)\n" in out
    assert "… and 3 more series (3 gaps, 3 candles): every one in the CSV of --export-unfillable FILE" in out
    assert f"Summary: {n} fillable gaps, {n} total candles to fetch" in out
    assert f"Summary: {n} unfillable gaps" in out
    assert len(path.read_text().splitlines()) == 1 + n  # the header, then every unfillable gap


def test_walks_beyond_the_budget_are_not_estimated(questdb, fake_kraken, spied):
    """Estimates are read a batch at a time while the budget has room: a store with thousands of old gaps
    costs the survey what the run can take, not what the store holds."""
    eth = make_asset("ETH")
    n = 3 * (ESTIMATE_BATCH + 300)
    write({SeriesKey(eth.pk, 1, "USD", "kraken"): (grid(DAY0, n, 1, skip=set(range(1, n, 3))), [5] * (2 * n // 3)),
           SeriesKey(eth.pk, 60, "USD", "kraken"): (grid(DAY0, 40, 60), [600] * 40)})
    run("--dry-run", "--asset", "ETH", "--method", "trades")  # the first meeting binds the store to the catalog
    spied.clear()
    out = run("--dry-run", "--asset", "ETH", "--method", "trades")
    left = n // 3 + 1 - ESTIMATE_BATCH  # every missing minute is a walk, plus the trailing one; one batch read
    assert f"(+ {left} walks not estimated: the run that takes them estimates them)" in out
    assert f"Left for a later run (over budget): {n // 3} gaps" in out
    estimates = [q for q in spied if "trade_count IS NOT NULL" in q]
    assert len(estimates) <= 2
