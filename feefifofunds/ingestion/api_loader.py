"""Loading candles from API sources (Massive, Finnhub): resolve assets, fetch, count, write, collect failures.

Used by the ``load_prices`` and ``backfill_prices`` commands. ``backfill_prices --gaps`` fetches only what is
missing: the candles the asset's calendar (``feefifofunds.calendars``) expects in the range and the store
lacks, one request per run of consecutive missing sessions (grouped daily: one call per missing session
date), and reports what is still missing after the provider answered (it is not asked again in that run).

Every source is a ``feefifofunds.sources.Source`` found by name in ``feefifofunds.sources.registry``; a new
API provider is one module in ``feefifofunds.sources`` plus one entry in the registry and, to be offered
here, its name in ``API_SOURCES``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from feefifofunds import calendars
from feefifofunds.catalog import calendar_of
from feefifofunds.models import Asset
from feefifofunds.sources import CandleRequest, GroupedDailySource, Source, SourceError
from feefifofunds.sources.registry import source_class
from feefifofunds.sources.validation import validate_candles
from feefifofunds.store import client
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.series import SeriesKey, stored_times, stored_times_by_asset
from feefifofunds.timeframes import day_start, epoch_micros, floor_time, from_epoch_micros

from .writer import PriceWriter, WriteError

logger = logging.getLogger(__name__)

# The loaders' sources. Kraken's REST API is a source too, but it only gives the most recent 720 candles: it
# fills gaps (``backfill_kraken_gaps``) rather than loading ranges.
API_SOURCES: tuple[str, ...] = ("massive", "finnhub")
DEFAULT_INTERVAL = 1440
PREVIEW_ROWS = 10


class LoadError(Exception):
    """A run cannot start (bad arguments, unknown asset, missing key); the message is for the user."""


# --- sources ----------------------------------------------------------------------------------------------


def open_api_source(name: str) -> Source:
    """The source for one run (one HTTP session, one rate limiter); fails first thing when its key is missing.

    Use it with ``with``: leaving the block closes the session.
    """
    if name not in API_SOURCES:
        raise LoadError(f"unknown source {name!r} (known: {', '.join(API_SOURCES)})")
    try:
        return source_class(name).from_settings()
    except SourceError as exc:
        raise LoadError(str(exc)) from None


def offers_grouped_daily(name: str) -> bool:
    """Whether the source declares the grouped-daily capability (asked before its key is checked)."""
    return name in API_SOURCES and issubclass(source_class(name), GroupedDailySource)


def intervals_help() -> str:
    """Which candle intervals each source gives, for ``--help``."""
    return "; ".join(f"{name}: {source_class(name).intervals_help}" for name in API_SOURCES)


# --- assets and ranges ------------------------------------------------------------------------------------


def resolve_assets(*, ticker: str | None = None, all_assets: bool = False, category: str | None = None) -> list[Asset]:
    if ticker:
        ticker = ticker.strip().upper()
        asset = Asset.objects.filter(ticker=ticker).first()
        if asset is None:
            raise LoadError(f"asset {ticker} does not exist; create it first with: "
                            f"manage.py create_asset --ticker {ticker} --name ... --category ...")
        return [asset]
    if not all_assets:
        raise LoadError("give --ticker or --all")
    assets = Asset.objects.filter(active=True)
    if category:
        assets = assets.filter(category=category.upper())
    found = list(assets.order_by("ticker"))
    if not found:
        raise LoadError("no active assets" + (f" in category {category.upper()}" if category else ""))
    return found


def resolve_range(*, days: int | None = None, start: date | None = None, end: date | None = None,
                  today: date | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC. ``end`` is an inclusive date (default today); ``days`` counts back from today."""
    today = today or datetime.now(UTC).date()
    if days is not None and start is not None:
        raise LoadError("give either --days or --start, not both")
    if days is not None and days <= 0:
        raise LoadError("--days must be a positive number")
    last = end or today
    if days is not None:
        first = today - timedelta(days=days)
    elif start is not None:
        first = start
    else:
        raise LoadError("give --days or --start")
    if first > last:
        raise LoadError(f"start {first} is after end {last}")
    return day_start(first), day_start(last + timedelta(days=1))


def mark_existing(candles: pl.DataFrame, existing: set[datetime]) -> pl.DataFrame:
    """``candles`` plus a boolean ``exists`` column: a candle with the same key is already stored."""
    times = pl.Series("e", sorted(existing), dtype=pl.Datetime("us", "UTC"))
    return candles.with_columns(pl.col("time").is_in(times.implode()).alias("exists"))


# --- results ----------------------------------------------------------------------------------------------


@dataclass
class AssetResult:
    ticker: str
    asset_id: int
    quote_currency: str
    interval_minutes: int = DEFAULT_INTERVAL
    fetched: int = 0
    created: int = 0
    updated: int = 0
    error: str | None = None
    preview: pl.DataFrame | None = None  # dry run: candles with an ``exists`` column
    missing: int | None = None  # gap mode: expected candles missing before the run
    still_missing: list[datetime] = field(default_factory=list)  # gap mode: missing after the provider answered
    calendar: str = calendars.ALWAYS
    off_calendar: list[datetime] = field(default_factory=list)  # candles on days the market was closed (kept)

    def add(self, marked: pl.DataFrame, keep_preview: bool) -> None:
        if marked.height and not calendars.follows_grid(self.calendar, self.interval_minutes):
            times = marked.get_column("time")
            closed = calendars.off_calendar(self.calendar, self.interval_minutes,
                                            times.dt.epoch("us").to_numpy())
            self.off_calendar.extend(t for t, off in zip(times.to_list(), closed, strict=True) if off)
        updated = int(marked.get_column("exists").sum()) if marked.height else 0
        self.fetched += marked.height
        self.updated += updated
        self.created += marked.height - updated
        if keep_preview:
            self.preview = marked if self.preview is None else pl.concat([self.preview, marked])


@dataclass
class RunResult:
    source: str
    interval_minutes: int
    start: datetime
    end: datetime
    dry_run: bool
    assets: list[AssetResult] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (asset or day, error)
    aborted: str | None = None
    requests: int = 0
    gaps: bool = False  # only the missing candles were asked for

    @property
    def created(self) -> int:
        return sum(a.created for a in self.assets)

    @property
    def updated(self) -> int:
        return sum(a.updated for a in self.assets)

    @property
    def ok(self) -> bool:
        return not self.failures and self.aborted is None


class ProgressSink:
    """Where the loader reports progress; the command renders it (rich), tests may ignore it."""

    def begin(self, total: int, unit: str) -> None:
        pass

    def step(self, label: str) -> None:
        pass


def _abort_if_fatal(result: RunResult, exc: Exception) -> bool:
    if isinstance(exc, SourceError) and exc.fatal:
        result.aborted = str(exc)
        return True
    return False


# --- per-asset mode ---------------------------------------------------------------------------------------


def load_assets(source: Source, assets: Iterable[Asset], *, start: datetime, end: datetime,
                interval_minutes: int = DEFAULT_INTERVAL, dry_run: bool = False, alias: str = DEFAULT_ALIAS,
                progress: ProgressSink | None = None, gaps: bool = False, now: datetime | None = None) -> RunResult:
    """Fetch and write each asset's candles in [start, end); one asset failing does not stop the others.
    With ``gaps`` only the missing candles are asked for (``missing_runs``).

    A fatal error (bad key) stops the run: ``result.aborted``. The caller holds the store lock.
    """
    assets = list(assets)
    progress = progress or ProgressSink()
    result = RunResult(source.name, interval_minutes, start, end, dry_run, gaps=gaps)
    if interval_minutes not in source.intervals:
        raise LoadError(f"{source.name} cannot give {interval_minutes}-minute candles "
                        f"(it gives: {', '.join(map(str, source.intervals))})")
    progress.begin(len(assets), "assets")
    try:
        with _writer(alias, dry_run) as writer:
            for asset in assets:
                outcome = AssetResult(asset.ticker, asset.pk, asset.quote_currency, interval_minutes,
                                      calendar=calendar_of(asset))
                result.assets.append(outcome)
                if gaps:
                    stop = _fill_one(source, asset, outcome, writer, result, interval_minutes=interval_minutes,
                                     start=start, end=end, dry_run=dry_run, alias=alias, now=now)
                else:
                    stop = _load_one(source, asset, outcome, writer, result, interval_minutes=interval_minutes,
                                     start=start, end=end, dry_run=dry_run, alias=alias)
                progress.step(asset.ticker)
                if stop:
                    break
            _finish(writer)
    finally:
        result.requests = source.requests
    return result


def _load_one(source: Source, asset: Asset, outcome: AssetResult, writer: PriceWriter | None, result: RunResult,
              *, interval_minutes: int, start: datetime, end: datetime, dry_run: bool, alias: str) -> bool:
    """Fetch and write one asset; True when its error is fatal and the run must stop."""
    key = SeriesKey(asset.pk, interval_minutes, asset.quote_currency, source.name)
    try:
        _fetch_write(source, asset, key, outcome, writer, start=start, end=end, dry_run=dry_run, alias=alias)
        logger.info("%s %s: %d candles (%d created, %d updated)%s", source.name, asset.ticker,
                    outcome.fetched, outcome.created, outcome.updated, " [dry run]" if dry_run else "")
    except (SourceError, WriteError, client.QuestDBError) as exc:
        return _failed(source, outcome, result, exc)
    return False


def _fetch_write(source: Source, asset: Asset, key: SeriesKey, outcome: AssetResult, writer: PriceWriter | None,
                 *, start: datetime, end: datetime, dry_run: bool, alias: str) -> pl.DataFrame:
    """One fetch of [start, end): counted against what is stored, written (unless a dry run); the candles."""
    candles = source.fetch(CandleRequest(asset.ticker, asset.quote_currency, key.interval_minutes,
                                         start, end, category=asset.category))
    existing = stored_times(key, start=start, end=end, alias=alias) if candles.height else set()
    marked = mark_existing(candles, existing)
    if writer is not None and candles.height:
        writer.write(candles, key)
    outcome.add(marked, keep_preview=dry_run)
    return candles


def _failed(source: Source, outcome: AssetResult, result: RunResult, exc: Exception) -> bool:
    """Record one asset's failure; True when it is fatal and the run must stop."""
    outcome.error = str(exc)
    result.failures.append((outcome.ticker, str(exc)))
    logger.warning("%s %s failed: %s", source.name, outcome.ticker, exc)
    return _abort_if_fatal(result, exc)


# --- gap mode ---------------------------------------------------------------------------------------------


def missing_times(key: SeriesKey, calendar: str, *, start: datetime, end: datetime, now: datetime | None = None,
                  alias: str = DEFAULT_ALIAS) -> np.ndarray:
    """The candle times (epoch microseconds, sorted) the calendar expects in [start, end), finished by
    ``now``, that the store does not hold."""
    step = timedelta(minutes=key.interval_minutes)
    last = min(end - timedelta(microseconds=1), floor_time(now or datetime.now(UTC), key.interval_minutes) - step)
    if last < start:
        return np.zeros(0, dtype=np.int64)
    expected = calendars.expected_times(calendar, key.interval_minutes, start, last)
    stored = np.asarray(sorted(epoch_micros(t) for t in stored_times(key, start=start, end=end, alias=alias)),
                        dtype=np.int64)
    return expected[~np.isin(expected, stored)]


def missing_runs(calendar: str, interval_minutes: int, missing: np.ndarray, *, start: datetime,
                 end: datetime) -> list[tuple[datetime, datetime]]:
    """[first, end) request spans, one per run of missing candles that are consecutive expected candles
    (two missing sessions around a weekend are one request)."""
    if not len(missing):
        return []
    expected = calendars.expected_times(calendar, interval_minutes, from_epoch_micros(missing[0]),
                                        from_epoch_micros(missing[-1]))
    idx = np.searchsorted(expected, missing)
    cuts = np.flatnonzero(np.diff(idx) != 1)
    firsts = np.concatenate([[0], cuts + 1])
    lasts = np.concatenate([cuts, [len(missing) - 1]])
    step = timedelta(minutes=interval_minutes)
    return [(max(start, from_epoch_micros(missing[a])), min(end, from_epoch_micros(missing[b]) + step))
            for a, b in zip(firsts, lasts, strict=True)]


def _fill_one(source: Source, asset: Asset, outcome: AssetResult, writer: PriceWriter | None, result: RunResult,
              *, interval_minutes: int, start: datetime, end: datetime, dry_run: bool, alias: str,
              now: datetime | None) -> bool:
    """Fetch the runs of one asset's missing candles and write what came; True when the run must stop."""
    key = SeriesKey(asset.pk, interval_minutes, asset.quote_currency, source.name)
    calendar = outcome.calendar
    try:
        missing = missing_times(key, calendar, start=start, end=end, now=now, alias=alias)
        outcome.missing = len(missing)
        got: set[int] = set()
        for lo, hi in missing_runs(calendar, interval_minutes, missing, start=start, end=end):
            candles = _fetch_write(source, asset, key, outcome, writer, start=lo, end=hi, dry_run=dry_run,
                                   alias=alias)
            got.update(epoch_micros(t) for t in candles.get_column("time").to_list())
        outcome.still_missing = [from_epoch_micros(t) for t in missing if int(t) not in got]
        logger.info("%s %s: %d missing, %d fetched, %d still missing", source.name, asset.ticker, len(missing),
                    outcome.fetched, len(outcome.still_missing))
    except (SourceError, WriteError, client.QuestDBError) as exc:
        return _failed(source, outcome, result, exc)
    return False


def _writer(alias: str, dry_run: bool) -> AbstractContextManager[PriceWriter | None]:
    """The one writer for a run, or nothing on a dry run."""
    return nullcontext() if dry_run else PriceWriter(alias)


def _finish(writer: PriceWriter | None) -> None:
    """Send what is still buffered and wait until QuestDB shows it (nothing to do on a dry run)."""
    if writer is not None:
        writer.flush()
        writer.wait_visible()


# --- grouped mode (Massive only) --------------------------------------------------------------------------


def grouped_days(start: datetime, end: datetime, now: datetime | None = None) -> list[date]:
    """The days in [start, end) whose daily candle is finished."""
    now = now or datetime.now(UTC)
    days, day = [], start
    while day < end and day + timedelta(days=1) <= now:
        days.append(day.date())
        day += timedelta(days=1)
    return days


def load_grouped(source: Source, assets: Iterable[Asset], *, start: datetime, end: datetime,
                 dry_run: bool = False, alias: str = DEFAULT_ALIAS, progress: ProgressSink | None = None,
                 now: datetime | None = None, gaps: bool = False) -> RunResult:
    """Daily candles of many assets with one grouped call per day (per market), filtered to ``assets``. With
    ``gaps`` only the session dates some asset misses are asked for, each call kept for the assets missing it."""
    if not isinstance(source, GroupedDailySource):
        raise LoadError(f"--grouped needs a source with a grouped daily endpoint (massive), not {source.name}")
    assets = list(assets)
    progress = progress or ProgressSink()
    interval = 1440
    result = RunResult(source.name, interval, start, end, dry_run, gaps=gaps)
    missing_on: dict[date, set[int]] = {}  # gap mode: the assets missing each session date
    by_market: dict[str, dict[str, AssetResult]] = {}
    for asset in assets:
        market = source.grouped_market(asset.category)
        outcome = AssetResult(asset.ticker, asset.pk, asset.quote_currency, interval, calendar=calendar_of(asset))
        result.assets.append(outcome)
        if market is None:
            outcome.error = f"no {source.name} grouped market for category {asset.category}"
            result.failures.append((asset.ticker, outcome.error))
            continue
        symbol = source.grouped_symbol(asset.ticker, asset.category, asset.quote_currency)
        by_market.setdefault(market, {})[symbol] = outcome
        if gaps:
            key = SeriesKey(asset.pk, interval, asset.quote_currency, source.name)
            missing = missing_times(key, calendar_of(asset), start=start, end=end, now=now, alias=alias)
            outcome.missing = len(missing)
            outcome.still_missing = [from_epoch_micros(t) for t in missing]
            for t in outcome.still_missing:
                missing_on.setdefault(t.date(), set()).add(asset.pk)
    days = sorted(missing_on) if gaps else grouped_days(start, end, now)
    progress.begin(len(days), "days")
    quotes = {a.asset_id: a.quote_currency for a in result.assets}
    existing = stored_times_by_asset(quotes, interval, source.name, start=start, end=end, alias=alias) if days else {}
    try:
        with _writer(alias, dry_run) as writer:
            for day in days:
                for market, wanted in sorted(by_market.items()):
                    if gaps:
                        wanted = {sym: o for sym, o in wanted.items() if o.asset_id in missing_on[day]}
                        if not wanted:
                            continue
                    if not _load_grouped_day(source, day, market, wanted, existing, writer, result, dry_run):
                        break
                if writer is not None:
                    try:
                        writer.flush()
                    except WriteError as exc:
                        result.failures.append((day.isoformat(), str(exc)))
                progress.step(day.isoformat())
                if result.aborted:
                    break
            _finish(writer)
    finally:
        result.requests = source.requests
    for outcome in result.assets:
        logger.info("%s grouped %s: %d candles (%d created, %d updated)%s", source.name, outcome.ticker,
                    outcome.fetched, outcome.created, outcome.updated, " [dry run]" if dry_run else "")
    return result


def _load_grouped_day(source: GroupedDailySource, day: date, market: str, wanted: dict[str, AssetResult],
                      existing: dict[int, set[datetime]], writer: PriceWriter | None, result: RunResult,
                      dry_run: bool) -> bool:
    """One grouped call, split per asset and buffered; False when a fatal error stops the run."""
    interval = 1440
    label = f"{day.isoformat()} {market}"
    try:
        frame = source.grouped_daily(day, market)
    except SourceError as exc:
        result.failures.append((label, str(exc)))
        logger.warning("%s grouped %s failed: %s", source.name, label, exc)
        return not _abort_if_fatal(result, exc)
    frame = frame.filter(pl.col("ticker").is_in(list(wanted)))
    for (symbol,), candles in frame.group_by(["ticker"], maintain_order=True):
        outcome = wanted[symbol]
        candles = candles.drop("ticker").sort("time")
        problem = validate_candles(candles, interval)
        if problem is not None:
            result.failures.append((f"{outcome.ticker} {day.isoformat()}", f"bad candle: {problem.reason}"))
            continue
        marked = mark_existing(candles, existing.get(outcome.asset_id, set()))
        if writer is not None:
            writer.add(candles, SeriesKey(outcome.asset_id, interval, outcome.quote_currency, source.name))
        outcome.add(marked, keep_preview=dry_run)
        got = set(candles.get_column("time").to_list())
        outcome.still_missing = [t for t in outcome.still_missing if t not in got]
    return True
