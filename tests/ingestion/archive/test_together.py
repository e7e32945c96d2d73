"""Small files taken together: one parse, one pass of the checks, few stored-candle reads (real QuestDB)."""

import time

import numpy as np
import polars as pl
import pytest

from feefifofunds.ingestion.archive.compare import changed_candles
from feefifofunds.ingestion.archive.together import (
    EXTRA_CANDLES,
    QUERY_SERIES,
    changed_together,
    check_together,
    extents,
    parse_together,
    query_groups,
)
from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.sources.kraken_archive import MalformedFile, check_chunk, parse_chunk
from feefifofunds.store.series import SeriesKey, stored_candles
from tests.support.archive import candle_lines, csv_bytes
from tests.support.store import spy_price_reads

DAY = 86400
T0 = 1_700_006_400 - 1_700_006_400 % DAY


def test_many_files_parse_at_once_and_a_file_that_does_not_parse_is_set_apart():
    hourly, daily = csv_bytes(candle_lines(60, 3)), csv_bytes(candle_lines(1440, 2))
    frame, bad = parse_together([hourly, daily, hourly])
    assert bad == set() and frame.get_column("segment").to_list() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert frame.drop("segment").equals(pl.concat([parse_chunk("x", d, 1) for d in (hourly, daily, hourly)]))
    frame, bad = parse_together([hourly, b"1700006400,1,x,0.5,1,3,4\n", daily, b"1700006400,1,2\n"])
    assert bad == {1, 3} and frame.get_column("segment").to_list() == [0, 0, 0, 2, 2]


GOOD = candle_lines(60, 6, start=T0)
NOW = time.time()  # the checks' clock: the cases are judged against it, whenever the test runs
CASES = {  # a file's lines, as the archive might hold them
    "good": GOOD,
    "unaligned": [*GOOD[:3], f"{T0 + 4 * 3600 + 60},1,2,0.5,1,3,4", *GOOD[4:]],
    "high_below_low": [*GOOD[:2], f"{T0 + 2 * 3600},1,0.5,2,1,3,4", *GOOD[3:]],
    "negative_price": [*GOOD[:5], f"{T0 + 5 * 3600},1,2,-0.5,1,3,4"],
    "negative_volume": [f"{T0},1,2,0.5,1,-3,4", *GOOD[1:]],
    "negative_trade_count": [f"{T0},1,2,0.5,1,3,-4", *GOOD[1:]],
    "repeated_time": [*GOOD[:3], GOOD[2], *GOOD[4:]],
    "earlier_time": [GOOD[1], GOOD[0], *GOOD[2:]],
    "before_2013": ["1300003200,1,2,0.5,1,3,4", *GOOD],
    "unfinished": [*GOOD, f"{int(NOW) // 3600 * 3600},1,2,0.5,1,3,4"],  # the hour under way at NOW
    "milliseconds": [*GOOD, f"{(T0 + 7 * 3600) * 1000},1,2,0.5,1,3,4"],
}


def test_the_checks_of_many_files_at_once_fail_exactly_the_files_the_per_file_checks_fail():
    names = sorted(CASES)
    datas = [csv_bytes(CASES[n]) for n in names for _ in range(2)]  # each case twice: neighbours alike
    frame, bad = parse_together(datas)
    assert bad == set()
    flagged = check_together(frame, [60] * len(datas), now=NOW)
    alone = set()
    for i, data in enumerate(datas):
        try:
            check_chunk("x", 1, parse_chunk("x", data, 1), 60, now=NOW)
        except MalformedFile:
            alone.add(i)
    assert flagged == alone and {names[i // 2] for i in flagged} == set(CASES) - {"good"}


def test_a_file_may_start_before_the_one_before_it_ends_and_intervals_are_each_files_own():
    minutes = csv_bytes(candle_lines(1, 120, start=T0))
    daily = csv_bytes(candle_lines(1440, 3, start=T0 - 2 * DAY))  # starts long before the minutes end
    frame, _ = parse_together([minutes, daily, minutes])
    assert check_together(frame, [1, 1440, 1], now=time.time()) == set()
    assert check_together(frame, [1, 1440, 60], now=time.time()) == {2}  # 1-minute times, said to be hourly
    rows, first, last = extents(frame, 3)
    assert rows.tolist() == [120, 3, 120]
    assert first.tolist() == [T0, T0 - 2 * DAY, T0] and last.tolist() == [T0 + 119 * 60, T0, T0 + 119 * 60]


def key(asset: int, interval: int, quote: str = "USD") -> SeriesKey:
    return SeriesKey(asset, interval, quote, "kraken")


def test_files_share_a_query_when_its_range_costs_none_of_them_much():
    day = [(key(a, 1), T0, T0 + DAY - 60) for a in range(5)]
    hourly = [(key(a, 60), T0 - 3 * DAY, T0 + DAY - 3600) for a in range(3)]
    assert sorted(map(sorted, query_groups(day + hourly))) == [[0, 1, 2, 3, 4], [5, 6, 7]]
    quarter = (key(9, 1), T0 - 90 * DAY, T0 + DAY - 60)  # its range would cost the one-day files 89 days
    assert sorted(map(sorted, query_groups([*day, quarter]))) == [[0, 1, 2, 3, 4], [5]]
    near = (key(9, 1), T0 + (EXTRA_CANDLES // 2) * 60, T0 + DAY + (EXTRA_CANDLES // 2) * 60)
    assert sorted(map(sorted, query_groups([*day, near]))) == [[0, 1, 2, 3, 4, 5]]
    lone = (key(8, 1440), T0, T0)  # one daily candle: any range of a few years costs it little
    assert query_groups([lone, (key(7, 1440), T0 - 900 * DAY, T0)]) == [[1, 0]]
    many = [(key(a, 1440), T0, T0) for a in range(QUERY_SERIES + 1)]
    assert [len(g) for g in query_groups(many)] == [QUERY_SERIES, 1]


def candles(start: int, n: int, step: int, close: float) -> pl.DataFrame:
    """Candles whose values besides the prices follow from their time (two versions of a candle differ
    only where the prices do)."""
    price = np.full(n, close)
    times = start + step * np.arange(n, dtype=np.int64)
    return pl.DataFrame({"time": times, "open": price, "high": price + 1, "low": price - 0.5, "close": price,
                         "volume": np.ones(n), "trade_count": (times - T0) // 60})


@pytest.mark.django_db
def test_changed_candles_of_many_files_in_one_query_per_interval_equal_the_per_file_counts(questdb, monkeypatch):
    btc_usd, btc_eur, eth_usd, btc_daily = key(1, 60), key(1, 60, "EUR"), key(2, 60), key(1, 1440)
    with PriceWriter() as writer:
        writer.add(candles(T0, 48, 3600, 1.0), btc_usd)
        writer.add(candles(T0, 48, 3600, 2.0), btc_eur)
        writer.add(candles(T0, 24, 3600, 3.0), eth_usd)
        writer.add(candles(T0 - 10 * DAY, 11, DAY, 4.0), btc_daily)
        writer.flush()
        writer.wait_visible()
    files = {  # the update: each overlaps its stored series, some candles with new values
        btc_usd: candles(T0 + 40 * 3600, 24, 3600, 1.0).with_columns(
            close=pl.when(pl.col("time") < T0 + 44 * 3600).then(1.5).otherwise(pl.col("close"))),
        btc_eur: candles(T0 + 30 * 3600, 24, 3600, 2.0),  # the same values as stored
        eth_usd: candles(T0 + 12 * 3600, 24, 3600, 3.25),
        btc_daily: candles(T0, 2, DAY, 4.5),
        key(3, 60): candles(T0, 10, 3600, 9.0),  # nothing stored
    }
    frame = pl.concat([df.with_columns(pl.lit(i, pl.Int32).alias("segment")) for i, df in enumerate(files.values())])
    rows, first, last = extents(frame, len(files))
    with monkeypatch.context() as spying:
        reads = spy_price_reads(spying)
        changed = changed_together(frame, dict(enumerate(files)), first, last)
    assert len(reads) == 2  # one per interval, whatever the number of files
    per_file = {i: changed_candles(stored_candles(k, df.item(0, "time"), df.item(df.height - 1, "time")), df)
                for i, (k, df) in enumerate(files.items())}
    assert {i: n for i, n in per_file.items() if n} == changed == {0: 4, 2: 12, 3: 1}
