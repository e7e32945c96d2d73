"""Small files together: what every file costs whatever its size, paid once for many.

A one-day update holds one small file per series (a few hundred rows at most): taken one by one, each
file's fixed costs (a parse and every check set up in polars, a round trip to QuestDB for its stored
candles, an Arrow file written and read back) weigh more than its rows. Files up to ``SMALL_FILE_BYTES``
are read whole and taken in batches instead: one parse of all their lines, one pass of every check, one
query per interval and time range for the stored candles they meet, one scratch file (the job stages it,
``Staging.stage_together``). What stays each file's own: its outcome, its rows and changed candles, its
acknowledgement and its record as done. A file the batch cannot take (a line the parser or a check
refuses) is taken again alone, the per-file way, which names the line; the others go on together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from feefifofunds.sources.kraken_archive import parse_lines
from feefifofunds.sources.validation import bad_archive_segments
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.series import SeriesKey, stored_candles_of

from .compare import changed_by

SMALL_FILE_BYTES = 1 << 20  # read whole and batched up to this size (a one-day 1-minute file: ~90 KB)
BATCH_BYTES = 8 << 20  # a batch: about 150,000 rows
BATCH_FILES = 4096
# The stored candles of a batch are read in one query per interval and time range: a file whose own range
# is shorter than the query's reads extra rows, at most this many candles (or as many as its own).
EXTRA_CANDLES = 1024
QUERY_SERIES = 1000  # series a query names at most (the export's statement travels in its URL)


def parse_together(datas: Sequence[bytes]) -> tuple[pl.DataFrame, set[int]]:
    """The lines of many files (each ending with a newline) parsed at once, ``segment`` numbering the
    files; and the files that do not parse (their rows left out: they go alone). One parse for the batch
    when every line is good, else one per file to find the bad ones."""
    lines = [d.count(b"\n") for d in datas]
    frame = parse_lines(b"".join(datas))
    if frame is not None:
        return frame.with_columns(pl.Series("segment", np.repeat(np.arange(len(datas), dtype=np.int32), lines))), set()
    frames, bad = [], set()
    for i, data in enumerate(datas):
        df = parse_lines(data)
        if df is None:
            bad.add(i)
        else:
            frames.append(df.with_columns(pl.lit(i, pl.Int32).alias("segment")))
    return (pl.concat(frames) if frames else pl.DataFrame()), bad


def check_together(frame: pl.DataFrame, intervals: Sequence[int], *, now: float) -> set[int]:
    """The files (segments) with a row that fails an archive check (``intervals``: each segment's)."""
    segment = frame.get_column("segment").to_numpy()
    per_row = pl.Series("interval_minutes", np.asarray(intervals, dtype=np.int32)[segment])
    return bad_archive_segments(frame.with_columns(per_row), now=now)


def extents(frame: pl.DataFrame, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, first and last time of each of ``count`` segments (each file's rows together, in time order)."""
    segment = frame.get_column("segment").to_numpy()
    times = frame.get_column("time").to_numpy()
    rows = np.bincount(segment, minlength=count)
    starts = np.concatenate([[0], np.cumsum(rows)[:-1]])
    present = rows > 0
    first = np.zeros(count, dtype=np.int64)
    last = np.zeros(count, dtype=np.int64)
    first[present] = times[starts[present]]
    last[present] = times[starts[present] + rows[present] - 1]
    return rows, first, last


def query_groups(spans: Sequence[tuple[SeriesKey, int, int]]) -> list[list[int]]:
    """The files (indexes of ``spans``: key, first and last time) whose stored candles one query reads:
    same interval, a time range that costs none of them more than ``EXTRA_CANDLES`` (or its own count) of
    candles outside its own range, at most ``QUERY_SERIES`` files."""
    groups: list[list[int]] = []
    by_interval: dict[int, list[int]] = {}
    for i, (key, _, _) in enumerate(spans):
        by_interval.setdefault(key.interval_minutes, []).append(i)
    for interval, members in by_interval.items():
        step = interval * 60
        current: list[int] = []
        low = high = bound = 0
        for i in sorted(members, key=lambda i: spans[i][1]):
            first, last = spans[i][1], spans[i][2]
            span = last - first
            allowed = span + step * max(EXTRA_CANDLES, span // step)  # the widest range this file accepts
            if current and len(current) < QUERY_SERIES and max(high, last) - low <= min(bound, allowed):
                current.append(i)
                high, bound = max(high, last), min(bound, allowed)
                continue
            current = [i]
            groups.append(current)
            low, high, bound = first, last, allowed
    return groups


def changed_together(frame: pl.DataFrame, keys: dict[int, SeriesKey], first: np.ndarray, last: np.ndarray, *,
                     alias: str = DEFAULT_ALIAS) -> dict[int, int]:
    """``changed_candles`` of many files (segments of ``frame``, each with its series in ``keys``): stored
    candles whose values the file changes, per segment, read in few queries (``query_groups``)."""
    if not keys:
        return {}
    segments = list(keys)
    spans = [(keys[s], int(first[s]), int(last[s])) for s in segments]
    stored = []
    for group in query_groups(spans):
        found = stored_candles_of([spans[i][0] for i in group], min(spans[i][1] for i in group),
                                  max(spans[i][2] for i in group), alias=alias)
        whose = np.asarray([segments[i] for i in group], dtype=np.int32)  # a group's series -> its file
        stored.append(found.with_columns(pl.Series("segment", whose[found.get_column("series").to_numpy()]))
                      .drop("series"))
    compared = np.zeros(len(first), dtype=bool)
    compared[segments] = True
    candles = frame.filter(pl.Series(compared[frame.get_column("segment").to_numpy()]))
    return changed_by(pl.concat(stored), candles, "segment")
