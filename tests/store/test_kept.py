"""The kept coverage and gaps (``store.kept``) against a full scan of the prices, on real QuestDB: after
writes in any order and overlap, off-grid candles, repeats, confirmed-empty ranges, calendars, the build and
a build that stopped half way."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from feefifofunds.catalog import set_calendar
from feefifofunds.gaps.detection import Gap, record_confirmed_empty
from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.models import Asset, KeptBuild, KeptGap, WrittenSpan
from feefifofunds.store import client, kept, schema
from feefifofunds.store.series import SeriesKey
from tests.support.kept import assert_kept_matches_scan, kept_now, scanned
from tests.support.market import make_candles

T0 = datetime(2024, 3, 1, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def _write(key: SeriesKey, frame: pl.DataFrame, flush_rows: int = 500_000) -> None:
    with PriceWriter("questdb", flush_rows=flush_rows) as writer:
        writer.add(frame, key)
    client.wait_for_wal(schema.TABLE)


def _random_frame(rng: random.Random, interval: int, *, off_grid: bool = False) -> pl.DataFrame:
    start = T0 + timedelta(minutes=interval * rng.randrange(0, 600))
    n = rng.randrange(1, 400)
    skip = {i for i in range(n) if rng.random() < 0.3}
    frame = make_candles(start, interval, n, skip=skip, seed=rng.randrange(1000))
    if off_grid and frame.height:
        frame = frame.with_columns(pl.col("time") + pl.duration(seconds=rng.choice([0, 17])))
        frame = frame.unique("time", keep="last").sort("time")
    return frame


def test_random_writes_in_any_order_keep_what_a_scan_finds(questdb):
    btc = Asset.objects.create(ticker="BTC", name="Bitcoin", category="CRYPTO")
    eth = Asset.objects.create(ticker="ETH", name="Ethereum", category="CRYPTO")
    keys = [SeriesKey(btc.pk, 1, "USD", "kraken"), SeriesKey(btc.pk, 60, "USD", "kraken"),
            SeriesKey(eth.pk, 5, "EUR", "kraken"), SeriesKey(eth.pk, 1, "USD", "massive")]
    rng = random.Random(20)
    for step in range(14):
        for _ in range(rng.choice([1, 1, 2, 3])):  # sometimes several writes before the update
            key = rng.choice(keys)
            _write(key, _random_frame(rng, key.interval_minutes, off_grid=key.source == "massive"),
                   flush_rows=rng.choice([7, 50, 500_000]))
        if step % 4 == 3:  # a confirmed-empty range over a gap of one series
            _, runs = scanned()
            open_runs = [r for r in runs if not r[4] and r[0].source == "kraken"]
            if open_runs:
                key, start, end, n, _ = rng.choice(open_runs)
                lo = start + (n // 3) * key.interval_minutes * 60_000_000
                moment = [datetime.fromtimestamp(t / 1e6, UTC) for t in (lo, end)]
                record_confirmed_empty([Gap(key.asset_id, key.quote_currency, key.interval_minutes, *moment, 0)],
                                       "questdb")
        kept.apply_notes("questdb")
        assert not WrittenSpan.objects.exists()
        cover, runs = assert_kept_matches_scan()
    assert len(cover) == 4 and len(runs) > 20
    assert any(r[4] for r in runs)  # confirmed-empty pieces were kept too


def test_a_write_far_from_the_rest_splits_one_long_gap(questdb):
    btc = Asset.objects.create(ticker="BTC", name="Bitcoin", category="CRYPTO")
    key = SeriesKey(btc.pk, 60, "USD", "kraken")
    _write(key, make_candles(T0, 60, 24))
    _write(key, make_candles(T0 + timedelta(days=400), 60, 24))
    kept.apply_notes("questdb")
    _, runs = assert_kept_matches_scan()
    assert [r[3] for r in runs] == [(400 - 1) * 24]
    _write(key, make_candles(T0 + timedelta(days=200), 60, 5, skip={2}))  # inside the long gap
    kept.apply_notes("questdb")
    _, runs = assert_kept_matches_scan()
    assert len(runs) == 3
    _write(key, make_candles(T0 - timedelta(days=30), 60, 3))  # before the first candle
    _write(key, make_candles(T0 + timedelta(days=900), 1, 3).with_columns(pl.col("time")))  # other series
    kept.apply_notes("questdb")
    assert_kept_matches_scan()


def test_the_build_equals_the_updates_and_resumes_where_it_stopped(questdb):
    assets = [Asset.objects.create(ticker=f"A{i}", name=f"A{i}", category="CRYPTO") for i in range(6)]
    rng = random.Random(3)
    for a in assets:
        for interval in (1, 15):
            _write(SeriesKey(a.pk, interval, "USD", "kraken"), _random_frame(rng, interval))
    kept.apply_notes("questdb")
    updated = assert_kept_matches_scan()
    done = kept.rebuild("questdb")
    assert (done.series, done.chunks) == (len(updated[0]), 1)
    assert kept_now() == updated
    # A build of several chunks that stops after the first: not built, readers say so; run again, it goes on.
    seen = []

    def stop_after_one(progress: kept.BuildProgress) -> None:
        seen.append(progress.chunk)
        if progress.chunk == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        kept.rebuild("questdb", progress=stop_after_one, chunk_rows=1000)
    record = KeptBuild.objects.get()
    assert not record.built and record.reached is not None
    assert not kept.is_built("questdb") and kept.coverage_rows("questdb") is None
    resumed = kept.rebuild("questdb", progress=lambda p: seen.append(p.chunk), chunk_rows=1000)
    assert resumed.chunks > 1 and seen[-1] == resumed.chunks
    assert 0 < resumed.series < len(updated[0])  # the first chunk was not built again
    assert kept_now() == updated


def test_a_store_with_prices_and_nothing_kept_is_not_built(questdb):
    btc = Asset.objects.create(ticker="BTC", name="Bitcoin", category="CRYPTO")
    kept.forget("questdb")
    _write(SeriesKey(btc.pk, 60, "USD", "kraken"), make_candles(T0, 60, 10, skip={4}))
    kept.catch_up("questdb")  # prices there and nothing kept: only a build can tell their gaps
    assert not kept.is_built("questdb")
    assert kept.series_pieces(SeriesKey(btc.pk, 60, "USD", "kraken"), "questdb") is None
    assert not WrittenSpan.objects.exists()  # the notes are of no use to a store not built: forgotten
    kept.rebuild("questdb")
    assert_kept_matches_scan()


def test_a_calendar_change_judges_the_series_again(questdb):
    aapl = Asset.objects.create(ticker="AAPL", name="Apple", category="STOCK")
    key = SeriesKey(aapl.pk, 1440, "USD", "massive")
    # Every day but a Saturday (2 March) and a Monday (4 March): only the Monday is a missed XNYS session.
    _write(key, make_candles(T0, 1440, 30, skip={1, 3}))
    kept.apply_notes("questdb")
    by_sessions = assert_kept_matches_scan()
    assert KeptGap.objects.filter(asset_id=aapl.pk).count() == 1
    set_calendar("AAPL", "24/7")
    assert kept.rejudge([aapl.pk], "questdb") == 1
    around_the_clock = assert_kept_matches_scan()
    assert by_sessions != around_the_clock
    assert KeptGap.objects.filter(asset_id=aapl.pk).count() == 2


def test_regular_series_are_those_on_their_grid(questdb):
    """``regular_series``: the series whose every candle lies on its interval's grid (the candle reads use it
    to read only the grid times); None for a store not built."""
    btc = Asset.objects.create(ticker="BTC", name="Bitcoin", category="CRYPTO")
    eth = Asset.objects.create(ticker="ETH", name="Ethereum", category="CRYPTO")
    on, off = SeriesKey(btc.pk, 60, "USD", "kraken"), SeriesKey(btc.pk, 1440, "USD", "kraken")
    _write(on, make_candles(T0, 60, 10, skip={4}))
    late = make_candles(T0, 1440, 5).with_columns(pl.col("time") + pl.duration(seconds=17))
    _write(off, pl.concat([make_candles(T0 - timedelta(days=3), 1440, 2), late]))
    _write(SeriesKey(eth.pk, 60, "USD", "kraken"), make_candles(T0, 60, 3))
    # Every candle 17 s late, whole days apart: off the grid from its first candle on.
    shifted = make_candles(T0, 1440, 4, skip={1}).with_columns(pl.col("time") + pl.duration(seconds=17))
    _write(SeriesKey(eth.pk, 1440, "USD", "kraken"), shifted)
    kept.catch_up("questdb")
    assert kept.regular_series("questdb") == {on, SeriesKey(eth.pk, 60, "USD", "kraken")}
    assert kept.regular_series("questdb", asset_id=btc.pk) == {on}
    kept.rebuild("questdb")  # the build tells them apart the same way (from the pass over the rows)
    assert kept.regular_series("questdb") == {on, SeriesKey(eth.pk, 60, "USD", "kraken")}
    assert_kept_matches_scan()
    kept.forget("questdb")
    assert kept.regular_series("questdb") is None


def test_the_build_counts_repeated_candles_of_a_table_without_dedup(questdb):
    """A table without DEDUP can hold a candle twice: the build counts every row of a series, as a scan does
    (a series on its grid is counted from its span and runs, plus its repeated candles)."""
    btc = Asset.objects.create(ticker="BTC", name="Bitcoin", category="CRYPTO")
    key = SeriesKey(btc.pk, 60, "USD", "kraken")
    schema.disable_dedup("questdb")
    try:
        _write(key, make_candles(T0, 60, 12, skip={3, 7}))
        _write(key, make_candles(T0 + timedelta(hours=4), 60, 5))
        assert client.query(f"SELECT count() FROM {schema.TABLE}")[0][0] == 15
        kept.rebuild("questdb")
        cover, _ = assert_kept_matches_scan()
        assert cover[key][2] == 15
    finally:
        schema.enable_dedup("questdb")
