"""store.coverage against the real QuestDB, through the JSON API that serves it: coverage per series, candles
resampled in QuestDB, the default quote currency, the cache per store version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl
import pytest

from feefifofunds.store import client as store
from feefifofunds.store import coverage, schema
from tests.support import market as small_market
from tests.support.json_api import all_pages, frame_of, get, iso
from tests.support.market import T0, make_candles

market = small_market.market  # a fixture
pytestmark = pytest.mark.django_db


def test_assets_with_coverage_and_gap_counts(client, market):
    status, body = get(client, "/api/assets")
    assert status == 200
    assert body["gap_detection"] is True
    by_ticker = {a["ticker"]: a for a in body["assets"]}
    assert set(by_ticker) == {"AAPL", "BTC", "ETH"}
    btc = by_ticker["BTC"]
    assert (btc["tier"], btc["category"], btc["name"]) == ("TIER1", "CRYPTO", "Bitcoin")
    cov = {(c["interval_minutes"], c["quote_currency"], c["source"]): c for c in btc["coverage"]}
    assert set(cov) == {(1, "USD", "kraken"), (60, "USD", "kraken"), (60, "EUR", "kraken")}
    hourly = cov[(60, "USD", "kraken")]
    assert hourly["first"] == iso(T0) and hourly["last"] == iso(T0 + timedelta(hours=71))
    assert hourly["candles"] == market.btc_1h.height == 68
    # The 3-hour hole is open; hour 30 is confirmed empty and does not count.
    assert hourly["open_gaps"] == 1
    assert cov[(1, "USD", "kraken")]["open_gaps"] == 2 and cov[(1, "USD", "kraken")]["candles"] == 1437
    assert cov[(60, "EUR", "kraken")]["open_gaps"] == 0
    assert by_ticker["ETH"]["coverage"] == []
    aapl = by_ticker["AAPL"]["coverage"]
    assert [(c["interval_minutes"], c["source"], c["candles"], c["open_gaps"]) for c in aapl] == [
        (1440, "massive", 10, 0)]


def expected_resample(frame: pl.DataFrame, target: int, start=None, end=None) -> pl.DataFrame:
    if start is not None:
        frame = frame.filter(pl.col("time") >= start)
    if end is not None:
        frame = frame.filter(pl.col("time") < end)
    return frame.sort("time").group_by_dynamic("time", every=f"{target}m", closed="left", label="left").agg(
        pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
        pl.col("volume").sum(), pl.col("trade_count").sum(),
    )


@pytest.mark.parametrize(("series", "interval", "target", "start", "end"), [
    ("btc_1m", 1, 15, None, None),
    ("btc_1m", 1, 60, T0 + timedelta(minutes=37), T0 + timedelta(hours=20, minutes=3)),
    ("btc_1m", 1, 240, None, None),
    ("btc_1h", 60, 240, None, None),
    ("btc_1h", 60, 1440, T0 + timedelta(hours=5), None),
])
def test_resampling_matches_polars(client, market, series, interval, target, start, end):
    params = {"ticker": "BTC", "interval": str(interval), "resample": str(target), "limit": "7"}
    if start:
        params["start"] = iso(start)
    if end:
        params["end"] = iso(end)
    rows, pages = all_pages(client, **params)
    expected = expected_resample(getattr(market, series), target, start, end)
    assert pages == -(-expected.height // 7)  # paginated in pages of 7 buckets
    got = frame_of(rows)
    assert got.columns == ["time", "open", "high", "low", "close", "volume", "trade_count"]
    assert got["time"].to_list() == expected["time"].to_list()
    for col in ("open", "high", "low", "close", "volume"):
        assert got[col].to_list() == pytest.approx(expected[col].to_list(), rel=1e-9), col
    assert got["trade_count"].to_list() == expected["trade_count"].to_list()


def test_quote_defaults_to_the_series_that_exists(client, market):
    """No quote given: the asset's own (USD) when stored, else the quote currency that has candles."""
    from feefifofunds.ingestion.writer import PriceWriter
    from feefifofunds.models import Asset
    from feefifofunds.store.series import SeriesKey

    xrp = Asset.objects.create(ticker="XRP", name="Ripple", category="CRYPTO", tier="TIER2")
    with PriceWriter("questdb") as writer:
        writer.add(make_candles(T0, 60, 5, seed=9, base=0.5), SeriesKey(xrp.pk, 60, "EUR", "kraken"))
        writer.flush()
    store.wait_for_wal(schema.TABLE)
    status, body = get(client, "/api/candles", ticker="XRP", interval="60")
    assert status == 200 and body["quote_currency"] == "EUR" and body["count"] == 5
    status, body = get(client, "/api/gaps", ticker="XRP", interval="60")
    assert status == 200 and body["quote_currency"] == "EUR" and body["source"] == "kraken"
    assert get(client, "/api/candles", ticker="BTC", interval="60")[1]["quote_currency"] == "USD"


def test_cache_follows_writes(client, market):
    """Coverage is cached per store version: a write (as by a cron job) is seen on the next request."""
    from feefifofunds.ingestion.writer import PriceWriter
    from feefifofunds.store.series import SeriesKey

    before = {c["interval_minutes"]: c for c in get(client, "/api/assets/ETH")[1]["coverage"]}
    assert before == {}
    with PriceWriter("questdb") as writer:
        writer.add(make_candles(T0, 1440, 3, seed=5, base=2000), SeriesKey(market.eth.pk, 1440, "USD", "kraken"))
        writer.flush()
    store.wait_for_wal(schema.TABLE)
    after = get(client, "/api/assets/ETH")[1]["coverage"]
    assert [(c["interval_minutes"], c["candles"]) for c in after] == [(1440, 3)]


# ---------------------------------------------------------------- pages read window by window

# A 1-minute series across a month boundary (two partitions) with a 36-hour hole and scattered missing
# minutes, among interleaved neighbours (another asset, another interval, another quote at the same times).
SPAN_START = T0 + timedelta(days=30, hours=20)
SLOTS = 4 * 1440
HOLE = set(range(8 * 60, 8 * 60 + 36 * 60))
SCATTERED = {3, 4, 5, 777, 778, 4000, 5000, 5758}


@dataclass
class Windowed:
    series: pl.DataFrame
    cov: coverage.SeriesCoverage
    short: coverage.SeriesCoverage
    short_series: pl.DataFrame
    coarse: dict[int, tuple[coverage.SeriesCoverage, pl.DataFrame]]  # hourly and daily series of the same asset
    off_grid: tuple[coverage.SeriesCoverage, pl.DataFrame]  # hourly, one candle at half past


@pytest.fixture
def windowed(questdb, db) -> Windowed:
    from feefifofunds.ingestion.writer import PriceWriter
    from feefifofunds.models import Asset
    from feefifofunds.store.series import SeriesKey

    a = Asset.objects.create(ticker="WIN", name="Windowed", category="CRYPTO", tier="TIER2")
    b = Asset.objects.create(ticker="NBR", name="Neighbour", category="CRYPTO", tier="TIER2")
    c = Asset.objects.create(ticker="SHRT", name="Short", category="CRYPTO", tier="TIER2")
    series = make_candles(SPAN_START, 1, SLOTS, skip=HOLE | SCATTERED, seed=11, base=50)
    short_series = make_candles(SPAN_START + timedelta(hours=5), 60, 3, seed=12, base=7)
    hourly = make_candles(SPAN_START - timedelta(days=10), 60, 24 * 16, skip={5, 6, 300}, seed=16, base=50)
    daily = make_candles(SPAN_START - timedelta(days=40, hours=20), 1440, 60, skip={3, 50}, seed=17, base=50)
    off = make_candles(SPAN_START, 60, 48, seed=18, base=9)
    half_past = make_candles(SPAN_START + timedelta(hours=10, minutes=30), 60, 1, seed=19, base=9)
    off = pl.concat([off, half_past]).sort("time")
    off_asset = Asset.objects.create(ticker="OFF", name="Off the grid", category="CRYPTO", tier="TIER2")
    with PriceWriter("questdb") as writer:
        writer.add(hourly, SeriesKey(a.pk, 60, "USD", "kraken"))
        writer.add(daily, SeriesKey(a.pk, 1440, "USD", "kraken"))
        writer.add(off, SeriesKey(off_asset.pk, 60, "USD", "kraken"))
        writer.add(series, SeriesKey(a.pk, 1, "USD", "kraken"))
        writer.add(make_candles(SPAN_START, 1, SLOTS, seed=13, base=60), SeriesKey(b.pk, 1, "USD", "kraken"))
        writer.add(make_candles(SPAN_START, 1, SLOTS, seed=14, base=55), SeriesKey(a.pk, 1, "EUR", "kraken"))
        writer.add(make_candles(SPAN_START, 5, SLOTS // 5, seed=15, base=50), SeriesKey(a.pk, 5, "USD", "kraken"))
        writer.add(short_series, SeriesKey(c.pk, 60, "USD", "kraken"))
        writer.flush()
    store.wait_for_wal(schema.TABLE)
    (cov,) = [s for s in coverage.series_coverage(asset_id=a.pk)
              if (s.interval_minutes, s.quote_currency) == (1, "USD")]
    (short,) = coverage.series_coverage(asset_id=c.pk)
    usd = {s.interval_minutes: s for s in coverage.series_coverage(asset_id=a.pk) if s.quote_currency == "USD"}
    (off_cov,) = coverage.series_coverage(asset_id=off_asset.pk)
    return Windowed(series, cov, short, short_series, {60: (usd[60], hourly), 1440: (usd[1440], daily)},
                    (off_cov, off))


def one_query(cov: coverage.SeriesCoverage, lower, upper, resample, limit) -> list[tuple]:
    """The page as one query over [lower, upper): what the windows must add up to."""
    return coverage.query_candles(cov.asset_id, cov.interval_minutes, cov.quote_currency, cov.source, lower, upper,
                                  resample, limit, "questdb", schema.TABLE)


def bounds(cov: coverage.SeriesCoverage, start, after, end) -> tuple:
    """The range a page of the series reads: from the latest of start, cursor and first candle, up to the
    earliest of end and just past the last candle."""
    lower = max(t for t in (start, after, cov.first) if t is not None)
    return lower, min(t for t in (end, cov.last + timedelta(microseconds=1)) if t is not None)


def expected_times(frame: pl.DataFrame, lower=None, end=None, limit=None) -> list:
    if lower is not None:
        frame = frame.filter(pl.col("time") >= lower)
    if end is not None:
        frame = frame.filter(pl.col("time") < end)
    return frame["time"].to_list()[:limit]


MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(("label", "start", "after", "end", "limit"), [
    ("the series' start", None, None, None, 100),
    ("a start before the first candle", SPAN_START - timedelta(days=3), None, None, 100),
    ("the middle", None, SPAN_START + 3000 * MINUTE, None, 250),
    ("the month boundary", None, T0 + timedelta(days=31, hours=-1), None, 120),
    ("scattered missing minutes", None, SPAN_START, None, 10),
    ("across the hole", None, SPAN_START + 7 * 60 * MINUTE, None, 200),
    ("from inside the hole", SPAN_START + 9 * 60 * MINUTE, None, None, 30),
    ("an unaligned cursor", None, SPAN_START + 3000 * MINUTE + timedelta(microseconds=1), None, 50),
    ("the end", None, SPAN_START + (SLOTS - 40) * MINUTE, None, 100),
    ("past the end", None, SPAN_START + SLOTS * MINUTE, None, 100),
    ("an end inside the page", SPAN_START + 100 * MINUTE, None, SPAN_START + 150 * MINUTE, 1000),
    ("an end inside the hole", None, SPAN_START + 6 * 60 * MINUTE, SPAN_START + 20 * 60 * MINUTE, 1000),
    ("one candle", None, SPAN_START + 7 * MINUTE, None, 1),
    ("the whole series", None, None, None, 10_000),
])
def test_pages_equal_one_query(windowed, label, start, after, end, limit):
    cov = windowed.cov
    page = coverage.series_candles(cov, start=start, after=after, end=end, limit=limit)
    lower, upper = bounds(cov, start, after, end)
    assert page == (one_query(cov, lower, upper, None, limit) if upper > lower else [])
    assert [r[0] for r in page] == expected_times(windowed.series, lower, end, limit)


def test_the_fill_of_a_series(windowed):
    cov = windowed.cov
    assert cov.fill == windowed.series.height / SLOTS
    assert windowed.short.fill == 1.0


def test_a_short_series(windowed):
    page = coverage.series_candles(windowed.short, limit=1000)
    assert [r[0] for r in page] == windowed.short_series["time"].to_list()
    assert page == one_query(windowed.short, windowed.short.first, None, None, 1000)
    assert coverage.series_candles(windowed.short, after=windowed.short.last, limit=1000) == page[-1:]


@pytest.mark.parametrize(("target", "start", "after", "end", "limit"), [
    (15, None, None, None, 20),
    (15, None, SPAN_START + 7 * 60 * MINUTE, None, 20),  # across the hole
    (60, SPAN_START + 37 * MINUTE, None, None, 5),  # an unaligned start: the first bucket is partial
    (60, None, SPAN_START + timedelta(hours=50), SPAN_START + timedelta(hours=70, minutes=30), 100),
    (240, None, None, None, 3),
    (1440, None, None, None, 10),
    (5, None, SPAN_START + (SLOTS - 30) * MINUTE, None, 100),  # the end
])
def test_resampled_pages_equal_one_query(windowed, target, start, after, end, limit):
    cov = windowed.cov
    page = coverage.series_candles(cov, start=start, after=after, end=end, resample=target, limit=limit)
    lower, upper = bounds(cov, start, after, end)
    assert page == one_query(cov, lower, upper, target, limit)
    expected = expected_resample(windowed.series, target, lower, end).head(limit)
    assert [r[0] for r in page] == expected["time"].to_list()
    assert [r[6] for r in page] == expected["trade_count"].to_list()


def test_resampled_pages_follow_each_other(windowed):
    """Every page of a resampled series, cursor after cursor, adds up to the whole resampled series."""
    cov = windowed.cov
    rows, after = [], None
    while True:
        page = coverage.series_candles(cov, resample=30, after=after, limit=7)
        rows += page
        if len(page) < 7:
            break
        after = page[-1][0] + timedelta(minutes=30)
    assert rows == one_query(cov, cov.first, cov.last + timedelta(microseconds=1), 30, 10_000)


def test_export_chunks_equal_the_series(windowed):
    cov = windowed.cov
    chunks = list(coverage.iter_candles(cov.asset_id, 1, "USD", source="kraken", chunk_rows=333))
    assert all(len(c) == 333 for c in chunks[:-1])
    assert [r[0] for c in chunks for r in c] == windowed.series["time"].to_list()
    assert [r for c in chunks for r in c] == one_query(cov, None, None, None, 10_000)


def test_the_api_pages_through_the_hole(client, windowed):
    rows, pages = all_pages(client, ticker="WIN", interval="1", quote="USD", limit="700")
    assert pages == -(-windowed.series.height // 700)
    assert [r["time"] for r in rows] == [iso(t) for t in windowed.series["time"].to_list()]


def test_windows_span_what_the_page_needs(windowed):
    """A page in dense candles is one window of exactly limit x interval; across the hole the windows widen,
    each the next's start, until the page is full; a page at the end stops at the last candle."""
    cov = windowed.cov
    windows: list[tuple] = []

    def read(lo, hi, count):
        windows.append((lo, hi, count))
        return one_query(cov, lo, hi, None, count)

    upper = cov.last + timedelta(microseconds=1)
    after = SPAN_START + 3000 * MINUTE
    assert len(coverage.read_windows(read, after, upper, 1, 250)) == 250
    assert windows == [(after, after + 250 * MINUTE, 250)]

    windows.clear()
    after = SPAN_START + 7 * 60 * MINUTE
    page = coverage.read_windows(read, after, upper, 1, 200)
    assert page == one_query(cov, after, upper, None, 200)
    assert windows[0] == (after, after + 200 * MINUTE, 200)
    assert all(w[1] == nxt[0] for w, nxt in zip(windows, windows[1:], strict=False))
    assert [w[1] - w[0] for w in windows[1:]] == [w[2] * MINUTE * 4 ** i for i, w in enumerate(windows[1:], 1)]
    assert 1 < len(windows) <= 4

    windows.clear()
    after = SPAN_START + (SLOTS - 40) * MINUTE
    assert len(coverage.read_windows(read, after, upper, 1, 100)) == 39
    assert windows == [(after, upper, 100)]


def test_without_a_known_end_the_last_window_is_open(windowed):
    """No end and no last candle known: after OPEN_ENDED_AFTER short windows the rest is one open read."""
    cov = windowed.cov
    windows: list[tuple] = []

    def read(lo, hi, count):
        windows.append((lo, hi))
        return one_query(cov, lo, hi, None, count)

    after = SPAN_START + (SLOTS - 40) * MINUTE
    assert coverage.read_windows(read, after, None, 1, 100) == one_query(cov, after, None, None, 100)
    assert len(windows) == coverage.OPEN_ENDED_AFTER + 1 and windows[-1][1] is None
    page = coverage.candles(cov.asset_id, 1, "USD", source="kraken", after=after, limit=100)
    assert page == one_query(cov, after, None, None, 100)


def test_window_ends_are_on_the_step_grid():
    at = T0 + timedelta(minutes=37, microseconds=1)
    assert coverage.window_end(at, 3, 60, 0) == T0 + timedelta(hours=4)
    assert coverage.window_end(T0, 3, 60, 0) == T0 + timedelta(hours=3)
    assert coverage.window_end(T0, 3, 60, 2) == T0 + timedelta(hours=3 * 16)
    assert coverage.window_end(T0 + timedelta(minutes=1), 10, 1, 1) == T0 + timedelta(minutes=41)
    # A series with half its slots empty: twice the slots, and that again by half; at most 15 times.
    assert coverage.window_end(T0, 100, 1, 0, fill=0.5) == T0 + timedelta(minutes=300)
    assert coverage.window_end(T0, 100, 1, 0, fill=0.001) == T0 + timedelta(minutes=1500)


@pytest.mark.parametrize("resample", [None, 60])
def test_a_window_is_an_interval_scan(windowed, resample):
    """QuestDB's plan for one window: a binary search of the designated timestamp to the window's bounds (an
    interval scan), the series filter applied only to the rows inside."""
    cov = windowed.cov
    lo, hi = SPAN_START + 60 * MINUTE, SPAN_START + 160 * MINUTE
    sql, params = coverage.candles_sql(cov.asset_id, 1, "USD", "kraken", lo, hi, resample, 100)
    plan = "\n".join(r[0] for r in store.query("EXPLAIN " + sql, params))
    assert "Interval forward scan on: assetprice" in plan
    assert f'("{lo:%Y-%m-%dT%H:%M:%S}.000000Z","{hi - MINUTE:%Y-%m-%dT%H:%M:59.999999Z}")' in plan, plan
    assert "filter: (asset_id=" in plan and "Full scan" not in plan


# ---------------------------------------------------------------- coarse series read at their grid times


@pytest.mark.parametrize(("interval", "start", "after", "end", "limit", "resample"), [
    (60, None, None, None, 100, None),
    (60, None, SPAN_START + timedelta(hours=1, minutes=30), None, 50, None),  # a cursor off the grid
    (60, None, SPAN_START - timedelta(days=10, hours=-3), None, 200, None),  # across the missing hours
    (60, SPAN_START, None, SPAN_START + timedelta(days=2, minutes=1), 1000, None),
    (60, None, None, None, 1000, 240),
    (60, SPAN_START + timedelta(hours=3), None, None, 7, 1440),
    (1440, None, None, None, 1000, None),
    (1440, None, SPAN_START - timedelta(days=30), None, 5, None),
])
def test_grid_pages_equal_one_query(windowed, monkeypatch, interval, start, after, end, limit, resample):
    """Pages of regular coarse series read at their grid times (resampled ones are read whole) equal one whole
    query. The store is small: every window is taken as worth reading at its grid times."""
    monkeypatch.setattr(coverage, "GRID_ROWS_PER_TIME", 0)
    cov, frame = windowed.coarse[interval]
    assert cov.regular
    page = coverage.series_candles(cov, start=start, after=after, end=end, resample=resample, limit=limit)
    lower, upper = bounds(cov, start, after, end)
    assert page == one_query(cov, lower, upper, resample, limit)
    if resample is None:
        assert [r[0] for r in page] == expected_times(frame, lower, end, limit)
    else:
        assert [r[0] for r in page] == expected_resample(frame, resample, lower, end).head(limit)["time"].to_list()


def test_an_off_grid_candle_is_read(windowed):
    """A series with a candle off its interval's grid is not regular: its pages are read whole, so the
    candle at half past is in them."""
    cov, frame = windowed.off_grid
    assert not cov.regular
    page = coverage.series_candles(cov, limit=1000)
    assert [r[0] for r in page] == frame["time"].to_list()
    assert SPAN_START + timedelta(hours=10, minutes=30) in [r[0] for r in page]


def test_grid_times():
    assert coverage.grid_times(60, T0 + timedelta(minutes=1), T0 + timedelta(hours=3)) == (
        "2024-01-01T01:00:00.000000Z;1u;60m;2", 2)
    assert coverage.grid_times(60, T0, T0 + timedelta(hours=3, microseconds=1)) == (
        "2024-01-01T00:00:00.000000Z;1u;60m;4", 4)
    assert coverage.grid_times(1440, T0 + timedelta(hours=1), T0 + timedelta(hours=2)) is None
    assert coverage.grid_times(60, T0, T0 + timedelta(hours=coverage.GRID_MAX_TIMES + 1)) is None


def test_a_grid_window_scans_only_its_grid_times(windowed):
    cov, _ = windowed.coarse[60]
    lo, hi = SPAN_START, SPAN_START + timedelta(hours=3)
    grid, _ = coverage.grid_times(60, lo, hi)
    sql, params = coverage.candles_sql(cov.asset_id, 60, "USD", "kraken", lo, hi, None, 100, grid=grid)
    plan = "\n".join(r[0] for r in store.query("EXPLAIN " + sql, params))
    assert "Interval forward scan on: assetprice" in plan
    times = [f'("{t:%Y-%m-%dT%H:%M:%S}.000000Z","{t:%Y-%m-%dT%H:%M:%S}.000000Z")' for t in (lo + timedelta(hours=h)
                                                                                           for h in range(3))]
    assert f"intervals: [{','.join(times)}]" in plan, plan


def test_a_regular_series_is_read_at_its_grid_times_only(windowed, monkeypatch):
    """What the grid read skips: given as regular, the series with a candle at half past is read without it
    (which is why only series kept as regular are read this way)."""
    from dataclasses import replace

    monkeypatch.setattr(coverage, "GRID_ROWS_PER_TIME", 0)
    cov, frame = windowed.off_grid
    page = coverage.series_candles(replace(cov, regular=True), limit=1000)
    assert [r[0] for r in page] == [t for t in frame["time"].to_list() if t.minute == 0]



def test_a_window_is_read_at_its_grid_times_when_it_holds_many_rows_per_grid_time(windowed, monkeypatch):
    """The 3 hours hold the 1-minute rows of two series (the hole of the third) and the 5-minute and hourly
    ones, about 130 rows per grid time: read at the grid times when that is over GRID_ROWS_PER_TIME."""
    cov, _ = windowed.coarse[60]
    lo, hi = SPAN_START + timedelta(hours=30), SPAN_START + timedelta(hours=33)
    monkeypatch.setattr(coverage, "GRID_ROWS_PER_TIME", 60)
    assert coverage.window_grid(60, lo, hi) == coverage.grid_times(60, lo, hi)[0]
    monkeypatch.setattr(coverage, "GRID_ROWS_PER_TIME", 10_000)
    assert coverage.window_grid(60, lo, hi) is None
