"""Spans noted before their rows are sent: what the kept coverage and gaps (``store.kept``) look at again.

Every writer notes, per series, the span of candle times it is about to send, in the catalog, before it
sends them (``WrittenSpan``). The kept state is brought up to date from the notes once the rows are visible
(at the end of every writing run, and at the start of the next one for notes a killed run left), and the
notes are deleted in the same transaction. So a kill at any moment leaves a note for everything that may
have reached the store, and a note for rows that never arrived only makes the update look at a span again.

A note is widened ahead of need (by as much as it already spans, at least a day): a time-ordered stream that
sends a series in many flushes notes it a few times, not once per flush.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from . import client
from .config import DEFAULT_ALIAS
from .series import SeriesKey

MIN_SLACK_US = 86_400_000_000  # a day


def spans_of(rows: pl.DataFrame, series: SeriesKey | None = None, *, quotes=(), source: str = "",
             ) -> dict[SeriesKey, tuple[int, int]]:
    """First and last candle time (epoch microseconds) of each series in ``rows``: one series (``series``),
    or many by the columns ``asset_id``, ``interval_minutes`` and ``quote_code`` (an index into ``quotes``).
    ``time`` is Unix seconds or a datetime."""
    if rows.height == 0:
        return {}
    time = pl.col("time")
    us = time * 1_000_000 if rows.schema["time"].is_integer() else time.dt.epoch("us")
    if series is not None:
        lo, hi = rows.select(us.min().alias("lo"), us.max().alias("hi")).row(0)
        return {series: (int(lo), int(hi))}
    spans = rows.group_by("asset_id", "interval_minutes", "quote_code").agg(us.min().alias("lo"),
                                                                          us.max().alias("hi"))
    return {SeriesKey(int(a), int(i), str(quotes[int(q)]), source): (int(lo), int(hi))
            for a, i, q, lo, hi in spans.iter_rows()}


def merge(into: dict[SeriesKey, tuple[int, int]], spans: Mapping[SeriesKey, tuple[int, int]]) -> None:
    for key, (lo, hi) in spans.items():
        have = into.get(key)
        into[key] = (lo, hi) if have is None else (min(have[0], lo), max(have[1], hi))


@dataclass
class Notes:
    """One writer's notes in the catalog (``WrittenSpan`` rows), widened as its spans grow. A widened span is
    a new note beside the old one (the update merges them): nothing is ever lost by updating a note that an
    update deleted meanwhile."""

    alias: str = DEFAULT_ALIAS
    noted: dict[SeriesKey, tuple[int, int]] = field(default_factory=dict)

    def cover(self, spans: Mapping[SeriesKey, tuple[int, int]]) -> None:
        """Note every span not yet inside a note (one statement for all of them)."""
        from feefifofunds.models import WrittenSpan

        rows: list[WrittenSpan] = []
        for key, (lo, hi) in spans.items():
            have = self.noted.get(key)
            if have is not None and have[0] <= lo and hi <= have[1]:
                continue
            if have is None:
                lo, hi = lo, hi + MIN_SLACK_US
            else:
                slack = max(MIN_SLACK_US, have[1] - have[0])
                lo = have[0] if lo >= have[0] else lo - slack
                hi = have[1] if hi <= have[1] else hi + slack
            self.noted[key] = (lo, hi)
            rows.append(WrittenSpan(store=self.store, asset_id=key.asset_id, interval_minutes=key.interval_minutes,
                                    quote_currency=key.quote_currency, source=key.source, lo_us=lo, hi_us=hi))
        if rows:
            WrittenSpan.objects.bulk_create(rows)

    @property
    def store(self) -> str:
        return client.get_config(self.alias).store_id
