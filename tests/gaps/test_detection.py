from datetime import UTC, datetime, timedelta

import pytest

from feefifofunds.gaps.detection import Gap, detect_gaps, list_series, split_confirmed_empty, subtract_ranges
from feefifofunds.models import ConfirmedEmptyRange
from tests.support.kraken_gaps import grid, make_asset, write_series

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 6, 1, tzinfo=UTC)


def gap(asset_id, interval, first_index, count, *, quote="USD", start=T0):
    step = timedelta(minutes=interval)
    return Gap(asset_id, quote, interval, start + first_index * step, start + (first_index + count - 1) * step, count)


@pytest.mark.parametrize("interval", [1, 5, 15, 30, 60, 240, 720, 1440])
def test_every_interval(questdb, interval):
    # Missing: index 3 (single), 10-14 (run of five); present: everything else from 0 to 29.
    write_series(7, interval, grid(T0, 30, interval, skip={3, 10, 11, 12, 13, 14}))
    assert detect_gaps() == [gap(7, interval, 3, 1), gap(7, interval, 10, 5)]


def test_odd_intervals_work_too(questdb):
    write_series(7, 7, grid(T0, 10, 7, skip={4}))
    write_series(7, 2880, grid(T0, 5, 2880, skip={1, 2}))
    assert detect_gaps() == [gap(7, 7, 4, 1), gap(7, 2880, 1, 2)]


def test_missing_days_and_missing_hours(questdb):
    # Hourly candles over 5 days: day 2 entirely missing, and hours 5-6 of day 4 missing.
    hours = set(range(24, 48)) | {96 + 5, 96 + 6}
    write_series(1, 60, grid(T0, 120, 60, skip=hours))
    assert detect_gaps() == [gap(1, 60, 24, 24), gap(1, 60, 101, 2)]
    assert detect_gaps()[0].start == datetime(2024, 6, 2, tzinfo=UTC)
    assert detect_gaps()[0].end == datetime(2024, 6, 2, 23, tzinfo=UTC)


def test_series_edges_are_not_gaps(questdb):
    # Nothing before the first or after the last candle counts; a series of one candle has no gap.
    write_series(1, 1440, grid(T0 + timedelta(days=5), 3, 1440))
    write_series(2, 1440, [T0])
    assert detect_gaps() == []
    write_series(1, 1440, [T0 + timedelta(days=1)])  # a new first candle: days 2-4 are now a gap
    assert detect_gaps() == [gap(1, 1440, 2, 3)]


def test_series_are_kept_apart(questdb):
    # Same asset and times: other quote currency, other interval, other source, other asset.
    write_series(1, 60, grid(T0, 10, 60, skip={2}))
    write_series(1, 60, grid(T0, 10, 60, skip={5}), quote="EUR")
    write_series(1, 15, grid(T0, 10, 15))
    write_series(1, 60, grid(T0, 10, 60, skip={7}), source="massive")
    write_series(2, 60, grid(T0, 10, 60, skip={8, 9}) + [T0 + timedelta(hours=10)])
    assert detect_gaps() == [gap(1, 60, 5, 1, quote="EUR"), gap(1, 60, 2, 1), gap(2, 60, 8, 2)]
    assert detect_gaps(source="massive") == [gap(1, 60, 7, 1)]
    assert detect_gaps(asset_ids=[2]) == [gap(2, 60, 8, 2)]
    assert detect_gaps(asset_ids=[]) == []
    assert detect_gaps(intervals=[15]) == []
    assert detect_gaps(quote_currency="eur") == [gap(1, 60, 5, 1, quote="EUR")]
    series = list_series(asset_ids=[1])
    assert [(s.quote_currency, s.interval_minutes, s.candles) for s in series] == [
        ("EUR", 60, 9), ("USD", 15, 10), ("USD", 60, 9)]
    assert series[0].first == T0 and series[0].last == T0 + timedelta(hours=9)



def test_every_asset_is_scanned_whatever_the_split(questdb):
    # The scan is split in two halves by asset id (at the middle of the ids or of the id range): assets on
    # both sides, the edges of the range included, and an explicit id list are all found, in series order.
    for asset_id in (1, 2, 3, 10, 11):
        write_series(asset_id, 60, grid(T0, 10, 60, skip={asset_id % 7 + 1}))
    expected = [gap(a, 60, a % 7 + 1, 1) for a in (1, 2, 3, 10, 11)]
    assert detect_gaps() == expected
    assert detect_gaps(asset_ids=[11, 1, 10]) == [expected[0], expected[3], expected[4]]
    assert detect_gaps(asset_ids=[3, 2]) == [expected[1], expected[2]]

def test_gaps_are_utc_aware(questdb):
    write_series(1, 60, grid(T0, 3, 60, skip={1}))
    (g,) = detect_gaps()
    assert g.start.tzinfo is not None and g.start.utcoffset() == timedelta(0)


def test_subtract_ranges_splits_a_gap():
    g = gap(1, 60, 0, 10)
    outside, inside = subtract_ranges(g, [(T0 + timedelta(hours=2), T0 + timedelta(hours=3, minutes=30)),
                                          (T0 + timedelta(hours=9), T0 + timedelta(hours=20))])
    assert outside == [gap(1, 60, 0, 2), gap(1, 60, 4, 5)]
    assert inside == [gap(1, 60, 2, 2), gap(1, 60, 9, 1)]
    assert subtract_ranges(g, [(T0 - timedelta(days=1), T0 - timedelta(hours=1))]) == ([g], [])


def test_split_confirmed_empty_uses_the_stored_ranges():
    a = make_asset("BTC")
    g1, g2 = gap(a.pk, 60, 2, 3), gap(a.pk, 60, 20, 2)
    eur = gap(a.pk, 60, 2, 3, quote="EUR")
    ConfirmedEmptyRange.objects.create(asset=a, quote_currency="USD", interval_minutes=60,
                                       start=g1.start, end=g1.start + timedelta(hours=1))
    real, empty = split_confirmed_empty([g1, g2, eur])
    assert real == [gap(a.pk, 60, 4, 1), g2, eur]
    assert empty == [gap(a.pk, 60, 2, 2)]
