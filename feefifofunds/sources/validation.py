"""Checks every candle must pass before it is written, whatever its source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

# Kraken opened for trading in September 2013: an archive candle before 2013 is a wrong timestamp.
ARCHIVE_EPOCH = int(datetime(2013, 1, 1, tzinfo=UTC).timestamp())
# Unix seconds at or above this are milliseconds (seconds would be the year 5138).
MILLISECONDS_FROM = 100_000_000_000
# Placeholder in a reason, for whoever knows line numbers (the archive reader) to name the line before.
PREVIOUS_LINE = "the previous line"


@dataclass(frozen=True)
class CandleProblem:
    row: int  # 0-based row index in the frame that was checked
    reason: str


def _candle_checks(seconds: pl.Expr, step: int | pl.Expr, *, with_trade_count: bool) -> list[tuple[pl.Expr, str]]:
    """Every candle rule as (expression true on a bad row, reason; ``{interval}`` stands for the minutes),
    for one interval (``step`` in seconds) or for rows of many (``step`` an expression)."""
    prices = ["open", "high", "low", "close"]
    checks: list[tuple[pl.Expr, str]] = [
        (pl.any_horizontal([pl.col(c).is_null() | pl.col(c).is_nan() | pl.col(c).is_infinite()
                            for c in [*prices, "volume"]]), "missing or non-finite price or volume"),
        (seconds.is_null(), "missing timestamp"),
        (seconds < 0, "negative timestamp"),
        (seconds % step != 0, "timestamp not aligned to the {interval}-minute interval"),
        (pl.col("high") < pl.col("low"), "high < low"),
        (pl.any_horizontal([pl.col(c) < 0 for c in prices]), "negative price"),
        (pl.col("volume") < 0, "negative volume"),
    ]
    if with_trade_count:
        checks.append((pl.col("trade_count") < 0, "negative trade count"))
    return checks


def validate_candles(df: pl.DataFrame, interval_minutes: int, *, time_col: str = "time") -> CandleProblem | None:
    """The first bad candle, or None. Vectorized: one pass of polars expressions, no Python loop per row.

    ``time_col`` may hold Unix seconds (Int64) or a Datetime.
    """
    if df.height == 0:
        return None
    ts = pl.col(time_col)
    seconds = ts if df.schema[time_col].is_integer() else ts.dt.epoch("s")
    checks = _candle_checks(seconds, interval_minutes * 60, with_trade_count="trade_count" in df.columns)
    checks = [(expr, reason.format(interval=interval_minutes)) for expr, reason in checks]
    flags = df.select([expr.fill_null(False).alias(str(i)) for i, (expr, _) in enumerate(checks)])
    first: CandleProblem | None = None
    for i, (_, reason) in enumerate(checks):
        hits = flags.get_column(str(i)).arg_true()
        if hits.len() and (first is None or hits[0] < first.row):
            first = CandleProblem(int(hits[0]), reason)
    return first


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def validate_archive_times(times: pl.Series, interval_minutes: int, *, now: float,
                           previous: int | None = None) -> CandleProblem | None:
    """The first archive timestamp (Unix seconds) that cannot be a finished Kraken candle, or None.

    Checked on the integers before anything multiplies them (seconds x 10^9 overflows int64 after 2262):
    from 2013-01-01 up to the last finished candle (``t + interval <= now``), strictly increasing, also
    across chunks (``previous`` is the last time of the chunk before). A duplicate time is not a choice
    we may make for the user: DEDUP would keep one of the two rows silently.
    """
    if times.len() == 0:
        return None
    step = interval_minutes * 60
    latest = int(now) - step  # the start of the last candle that has finished; no overflow possible
    too_late = (times > latest).arg_true()
    too_early = (times < ARCHIVE_EPOCH).arg_true()
    if previous is None:
        not_after = (times.diff() <= 0).fill_null(False).arg_true()
    else:
        not_after = (times.diff().fill_null(times[0] - previous) <= 0).arg_true()
    candidates = []
    if too_late.len():
        row = int(too_late[0])
        t = int(times[row])
        if t >= MILLISECONDS_FROM:
            reason = (f"timestamp {t} is in milliseconds or far in the future; the archive holds Unix seconds "
                      f"(convert the file: {t} ms is {t // 1000})")
        else:
            reason = (f"timestamp {t} is after the last finished {interval_minutes}-minute candle "
                      f"({_utc(latest)}): a future or unfinished candle")
        candidates.append(CandleProblem(row, reason))
    if too_early.len():
        row = int(too_early[0])
        candidates.append(CandleProblem(row, f"timestamp {int(times[row])} is before 2013-01-01, "
                                             "earlier than any Kraken trade"))
    if not_after.len():
        row = int(not_after[0])
        before = int(times[row - 1]) if row else previous
        t = int(times[row])
        what = "repeats the timestamp of" if t == before else "is earlier than"
        candidates.append(CandleProblem(row, f"timestamp {t} {what} {PREVIOUS_LINE} (times must increase "
                                             "strictly: a duplicate or out-of-order candle)"))
    return min(candidates, key=lambda p: p.row) if candidates else None


def bad_archive_segments(frame: pl.DataFrame, *, now: float) -> set[int]:
    """The files failing any archive rule (``validate_candles`` and ``validate_archive_times``, with
    the same expressions) among rows of many files checked in one pass: ``segment`` numbers the files (rows
    of one file together, in its order), ``interval_minutes`` is each row's interval. Why a file fails is
    left to the per-file checks, which name the line."""
    if frame.height == 0:
        return set()
    step = pl.col("interval_minutes").cast(pl.Int64) * 60
    times, segment = pl.col("time"), pl.col("segment")
    rules = [expr for expr, _ in _candle_checks(times, step, with_trade_count="trade_count" in frame.columns)]
    rules += [times > int(now) - step, times < ARCHIVE_EPOCH,
              (times.diff() <= 0) & (segment.diff() == 0)]  # strictly increasing within each file
    bad = frame.filter(pl.any_horizontal([rule.fill_null(False) for rule in rules])).get_column("segment")
    return set(bad.unique().to_list())
