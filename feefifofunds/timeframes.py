"""Time and candle intervals in one place: every candle time is UTC and starts on a multiple of its interval.

QuestDB answers and takes naive timestamps that mean UTC; the rest of the code works with UTC-aware
datetimes. ``as_utc`` and ``naive_utc`` are the two crossings. Candles are aligned on the Unix epoch
(Kraken's rule, and midnight UTC for daily candles), so flooring a time to its candle is integer arithmetic
on epoch seconds: ``floor_time`` for one datetime, ``candle_start_expr`` / ``floor_seconds_expr`` for a polars
column.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

# The candle intervals (minutes) the store holds: the Kraken archive's, which cover every API source's.
INTERVALS: tuple[int, ...] = (1, 5, 15, 30, 60, 240, 720, 1440)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive value is taken to be UTC already (QuestDB's answers)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def naive_utc(value: datetime) -> datetime:
    """``value`` as a naive datetime meaning UTC, the form QuestDB's bind parameters expect."""
    return as_utc(value).replace(tzinfo=None)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(moment: datetime) -> int:
    """Microseconds since the epoch (exact: no float), the unit QuestDB's timestamps count in."""
    return (as_utc(moment) - EPOCH) // timedelta(microseconds=1)


def from_epoch_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


def parse_utc(text: str) -> datetime:
    """An ISO 8601 date or date-time as aware UTC; a naive value is UTC. Raises ``ValueError`` with the reason."""
    try:
        return as_utc(datetime.fromisoformat(text.strip().replace(" ", "T")))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date or date-time (e.g. 2024-01-31 or 2024-01-31T12:00:00Z): "
                         f"{text!r}") from None


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def floor_time(moment: datetime, interval_minutes: int) -> datetime:
    """The start of the ``interval_minutes`` candle that contains ``moment`` (UTC, aligned on the epoch)."""
    step = interval_minutes * 60
    seconds = int(as_utc(moment).timestamp() // 1)
    return datetime.fromtimestamp(seconds - seconds % step, UTC)


def candle_start_expr(seconds: pl.Expr, interval_minutes: int) -> pl.Expr:
    """Epoch seconds (integers, or float seconds such as a trade's time) floored to the start of their candle,
    as integer epoch seconds."""
    step = interval_minutes * 60
    return (seconds // step * step).cast(pl.Int64)


def floor_seconds_expr(seconds: pl.Expr, interval_minutes: int) -> pl.Expr:
    """Epoch seconds floored to their candle, as UTC datetimes (``CANDLE_SCHEMA`` time)."""
    return (pl.from_epoch(candle_start_expr(seconds, interval_minutes), time_unit="s").dt.cast_time_unit("us")
            .dt.replace_time_zone("UTC"))
