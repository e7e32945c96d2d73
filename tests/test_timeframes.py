from datetime import UTC, date, datetime, timedelta, timezone

import polars as pl
import pytest

from feefifofunds.timeframes import as_utc, day_start, floor_seconds_expr, floor_time, naive_utc, parse_utc

CET = timezone(timedelta(hours=1))


def test_utc_crossings():
    naive = datetime(2024, 1, 1, 12)
    assert as_utc(naive) == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert as_utc(datetime(2024, 1, 1, 13, tzinfo=CET)) == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert naive_utc(datetime(2024, 1, 1, 13, tzinfo=CET)) == naive
    assert naive_utc(naive) == naive
    assert day_start(date(2024, 2, 29)) == datetime(2024, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize("moment, interval, expected", [
    (datetime(2025, 1, 20, 12, 34, 56, tzinfo=UTC), 60, datetime(2025, 1, 20, 12, tzinfo=UTC)),
    (datetime(2025, 1, 20, 12, 34, tzinfo=UTC), 240, datetime(2025, 1, 20, 12, tzinfo=UTC)),
    (datetime(2025, 1, 20, 11, 59, tzinfo=UTC), 720, datetime(2025, 1, 20, 0, tzinfo=UTC)),
    (datetime(2025, 1, 20, 0, 30, tzinfo=CET), 1440, datetime(2025, 1, 19, tzinfo=UTC)),
    (datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC), 1, datetime(1969, 12, 31, 23, 59, tzinfo=UTC)),
])
def test_floor_time(moment, interval, expected):
    assert floor_time(moment, interval) == expected


def test_floor_expression_agrees_with_floor_time():
    seconds = [1_737_376_496, 1_737_331_200, 1_737_417_599]
    frame = pl.DataFrame({"s": seconds}).select(floor_seconds_expr(pl.col("s"), 240).alias("t"))
    assert frame["t"].to_list() == [floor_time(datetime.fromtimestamp(s, UTC), 240) for s in seconds]
    assert frame.schema["t"] == pl.Datetime("us", "UTC")


def test_parse_utc():
    assert parse_utc("2024-01-31") == datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_utc(" 2024-01-31T12:00:00Z") == datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert parse_utc("2024-01-31 13:00+01:00") == datetime(2024, 1, 31, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO 8601 date"):
        parse_utc("notadate")
