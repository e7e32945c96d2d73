"""Loading candles from API sources (Massive, Finnhub): resolve assets, fetch, count, write, collect failures.

Used by the ``load_prices`` and ``backfill_prices`` commands. Every source implements
``feefifofunds.sources.Source``; a new API provider is one module in ``feefifofunds.sources`` with a
``from_settings()`` class method (which checks its key) plus its name in ``API_SOURCES``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl

from feefifofunds.models import Asset
from feefifofunds.sources import CandleRequest, Source, SourceError
from feefifofunds.store import client, schema

from .candles import validate_candles
from .writer import PriceWriter, SeriesKey, WriteError

logger = logging.getLogger(__name__)

API_SOURCES: tuple[str, ...] = ("massive", "finnhub")
DEFAULT_INTERVAL = 1440
PREVIEW_ROWS = 10


class LoadError(Exception):
    """A run cannot start (bad arguments, unknown asset, missing key); the message is for the user."""


# --- sources ----------------------------------------------------------------------------------------------


def source_module(name: str):
    if name not in API_SOURCES:
        raise LoadError(f"unknown source {name!r} (known: {', '.join(API_SOURCES)})")
    return importlib.import_module(f"feefifofunds.sources.{name}")


def open_source(name: str) -> Source:
    """The source for one run (one client, one rate limiter); fails first thing when its key is missing."""
    module = source_module(name)
    cls = next(v for v in vars(module).values() if isinstance(v, type) and getattr(v, "name", None) == name
               and hasattr(v, "from_settings"))
    try:
        return cls.from_settings()
    except SourceError as exc:
        raise LoadError(str(exc)) from None


def close_source(source: Source) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()


def intervals_help() -> str:
    """Which candle intervals each source gives, for ``--help``."""
    parts = []
    for name in API_SOURCES:
        module = source_module(name)
        parts.append(f"{name}: {module.INTERVALS_HELP}")
    return "; ".join(parts)


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
    as_dt = lambda d: datetime(d.year, d.month, d.day, tzinfo=UTC)  # noqa: E731
    return as_dt(first), as_dt(last + timedelta(days=1))


def existing_times(key: SeriesKey, start: datetime, end: datetime, alias: str = "questdb") -> set[datetime]:
    """Candle times of one series already in QuestDB within [start, end)."""
    rows = client.query(
        f"SELECT time FROM {schema.TABLE} WHERE asset_id = %s AND interval_minutes = %s AND source = %s "
        "AND quote_currency = %s AND time >= %s AND time < %s",
        (key.asset_id, key.interval_minutes, key.source, key.quote_currency, _naive(start), _naive(end)),
        alias=alias,
    )
    return {_utc(r[0]) for r in rows}


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
    fetched: int = 0
    created: int = 0
    updated: int = 0
    error: str | None = None
    preview: pl.DataFrame | None = None  # dry run: candles with an ``exists`` column

    def add(self, marked: pl.DataFrame, keep_preview: bool) -> None:
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


def _requests(source: Source) -> int:
    api = getattr(source, "client", None)
    return getattr(api, "requests", 0)


def _abort_if_fatal(result: RunResult, exc: Exception) -> bool:
    if getattr(exc, "fatal", False):
        result.aborted = str(exc)
        return True
    return False


# --- per-asset mode ---------------------------------------------------------------------------------------


def load_assets(source: Source, assets: Iterable[Asset], *, start: datetime, end: datetime,
                interval_minutes: int = DEFAULT_INTERVAL, dry_run: bool = False, alias: str = "questdb",
                progress: ProgressSink | None = None) -> RunResult:
    """Fetch and write each asset's candles in [start, end); one asset failing does not stop the others.

    A fatal error (bad key) stops the run: ``result.aborted``.
    """
    assets = list(assets)
    progress = progress or ProgressSink()
    result = RunResult(source.name, interval_minutes, start, end, dry_run)
    if interval_minutes not in source.intervals:
        raise LoadError(f"{source.name} cannot give {interval_minutes}-minute candles "
                        f"(it gives: {', '.join(map(str, source.intervals))})")
    progress.begin(len(assets), "assets")
    writer = None if dry_run else PriceWriter(alias)
    try:
        if writer is not None:
            writer.__enter__()
        for asset in assets:
            outcome = AssetResult(asset.ticker, asset.pk, asset.quote_currency)
            result.assets.append(outcome)
            key = SeriesKey(asset.pk, interval_minutes, asset.quote_currency, source.name)
            try:
                candles = source.fetch(CandleRequest(asset.ticker, asset.quote_currency, interval_minutes,
                                                     start, end, category=asset.category))
                marked = mark_existing(candles, existing_times(key, start, end, alias) if candles.height else set())
                if writer is not None and candles.height:
                    writer.write(candles, key)
                outcome.add(marked, keep_preview=dry_run)
                logger.info("%s %s: %d candles (%d created, %d updated)%s", source.name, asset.ticker,
                            outcome.fetched, outcome.created, outcome.updated, " [dry run]" if dry_run else "")
            except (SourceError, WriteError, client.QuestDBError) as exc:
                outcome.error = str(exc)
                result.failures.append((asset.ticker, str(exc)))
                logger.warning("%s %s failed: %s", source.name, asset.ticker, exc)
                if _abort_if_fatal(result, exc):
                    progress.step(asset.ticker)
                    break
            progress.step(asset.ticker)
        _finish(writer)
    finally:
        _close(writer, result, source)
    return result


def _finish(writer: PriceWriter | None) -> None:
    """Send what is still buffered and wait until QuestDB shows it (nothing to do on a dry run)."""
    if writer is not None:
        writer.flush()
        writer.wait_visible()


def _close(writer: PriceWriter | None, result, source) -> None:
    if writer is not None:
        writer.__exit__(None, None, None)
    result.requests = _requests(source)


# --- grouped mode (Massive only) --------------------------------------------------------------------------


def grouped_days(start: datetime, end: datetime, now: datetime | None = None) -> list[date]:
    """The days in [start, end) whose daily candle is finished."""
    now = now or datetime.now(UTC)
    days, day = [], start
    while day < end and day + timedelta(days=1) <= now:
        days.append(day.date())
        day += timedelta(days=1)
    return days


def load_grouped(source, assets: Iterable[Asset], *, start: datetime, end: datetime, dry_run: bool = False,
                 alias: str = "questdb", progress: ProgressSink | None = None,
                 now: datetime | None = None) -> RunResult:
    """Daily candles of many assets with one grouped call per day (per market), filtered to ``assets``."""
    from feefifofunds.sources import massive

    if not hasattr(source, "grouped_daily"):
        raise LoadError(f"--grouped needs a source with a grouped daily endpoint (massive), not {source.name}")
    assets = list(assets)
    progress = progress or ProgressSink()
    interval = 1440
    result = RunResult(source.name, interval, start, end, dry_run)
    by_market: dict[str, dict[str, AssetResult]] = {}
    for asset in assets:
        market = massive.MARKET_OF_CATEGORY.get(asset.category)
        outcome = AssetResult(asset.ticker, asset.pk, asset.quote_currency)
        result.assets.append(outcome)
        if market is None:
            outcome.error = f"no Massive grouped market for category {asset.category}"
            result.failures.append((asset.ticker, outcome.error))
            continue
        symbol = massive.massive_ticker(asset.ticker, asset.category, asset.quote_currency)
        by_market.setdefault(market, {})[symbol] = outcome
    days = grouped_days(start, end, now)
    progress.begin(len(days), "days")
    existing = _existing_for(result.assets, interval, source.name, start, end, alias) if days else {}
    writer = None if dry_run else PriceWriter(alias)
    try:
        if writer is not None:
            writer.__enter__()
        for day in days:
            for market, wanted in sorted(by_market.items()):
                label = f"{day.isoformat()} {market}"
                try:
                    frame = source.grouped_daily(day, market)
                except SourceError as exc:
                    result.failures.append((label, str(exc)))
                    logger.warning("%s grouped %s failed: %s", source.name, label, exc)
                    if _abort_if_fatal(result, exc):
                        break
                    continue
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
                        writer.add(candles, SeriesKey(outcome.asset_id, interval, outcome.quote_currency,
                                                      source.name))
                    outcome.add(marked, keep_preview=dry_run)
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
        _close(writer, result, source)
    for outcome in result.assets:
        logger.info("%s grouped %s: %d candles (%d created, %d updated)%s", source.name, outcome.ticker,
                    outcome.fetched, outcome.created, outcome.updated, " [dry run]" if dry_run else "")
    return result


def _existing_for(assets: list[AssetResult], interval: int, source: str, start: datetime, end: datetime,
                  alias: str) -> dict[int, set[datetime]]:
    """Stored candle times per asset id in [start, end), one query for all assets."""
    wanted = {a.asset_id: a.quote_currency for a in assets}
    rows = client.query(
        f"SELECT asset_id, quote_currency, time FROM {schema.TABLE} WHERE interval_minutes = %s AND source = %s "
        "AND time >= %s AND time < %s",
        (interval, source, _naive(start), _naive(end)),
        alias=alias,
    )
    found: dict[int, set[datetime]] = {}
    for asset_id, quote, moment in rows:
        if wanted.get(asset_id) == quote:
            found.setdefault(asset_id, set()).add(_utc(moment))
    return found
