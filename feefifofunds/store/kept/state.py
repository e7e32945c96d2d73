"""Whether a store's kept state is built, its version, and the readers of the kept tables.

Readers get ``None`` (or ``NotBuilt``) for a store not built yet, never a silent zero.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import F

from feefifofunds import calendars

from .. import client, schema
from ..config import DEFAULT_ALIAS
from ..series import SeriesKey

NOT_BUILT = ("gaps not built yet: run `manage.py rebuild_gaps` (the kept gaps and coverage of this store "
             "are made from its prices once, then kept by every write)")


class NotBuilt(RuntimeError):
    """The store's kept gaps are not built yet (the message says how)."""

    def __init__(self, message: str = NOT_BUILT):
        super().__init__(message)


def store_of(alias: str) -> str:
    return client.get_config(alias).store_id


def table_id(alias: str, table: str = schema.TABLE) -> int | None:
    rows = client.query("SELECT id FROM tables() WHERE table_name = %s", (table,), alias=alias)
    return int(rows[0][0]) if rows else None


def build_record(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE):
    """The store's ``KeptBuild`` if it describes the table there now (another id: the table was made again,
    and what is kept describes the old one), else None."""
    from feefifofunds.models import KeptBuild

    record = KeptBuild.objects.filter(store=store_of(alias)).first()
    if record is None or record.table_id != table_id(alias, table):
        return None
    return record


def is_built(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> bool:
    record = build_record(alias, table)
    return record is not None and record.built


def version(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE) -> str:
    """Changes with every change to what is kept (part of ``coverage.store_version``)."""
    record = build_record(alias, table)
    return "none" if record is None else f"{record.pk}:{int(record.built)}:{record.version}"


def bump_version(store: str) -> None:
    from feefifofunds.models import KeptBuild

    KeptBuild.objects.filter(store=store).update(version=F("version") + 1)


def forget(alias: str = DEFAULT_ALIAS) -> None:
    """Drop what this catalog keeps of the store (it was bound to another catalog: build it again)."""
    from feefifofunds.models import KeptBuild, KeptGap, KeptSeries, WrittenSpan

    store = store_of(alias)
    with transaction.atomic():
        for model in (KeptBuild, KeptSeries, KeptGap, WrittenSpan):
            model.objects.filter(store=store).delete()


def _cover_rows(alias: str, table: str, **filters) -> list | None:
    from feefifofunds.models import KeptSeries

    if not is_built(alias, table):
        return None
    return list(KeptSeries.objects.filter(store=store_of(alias), **filters).values_list(
        "asset_id", "interval_minutes", "quote_currency", "source", "first_us", "last_us", "candles", "open_gaps"))


def coverage_rows(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE, *, asset_id: int | None = None,
                  ) -> list[tuple] | None:
    """(asset, interval, quote, source, first, last, candles, open gaps) of every kept series (of one asset);
    None when the store is not built."""
    return _cover_rows(alias, table, **({} if asset_id is None else {"asset_id": int(asset_id)}))


def regular_series(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE, *, asset_id: int | None = None,
                   ) -> set[SeriesKey] | None:
    """The kept series (of one asset) whose every candle lies on its interval's grid; None when not built."""
    from feefifofunds.models import KeptSeries

    if not is_built(alias, table):
        return None
    rows = KeptSeries.objects.filter(store=store_of(alias), regular=True,
                                     **({} if asset_id is None else {"asset_id": int(asset_id)}))
    return {SeriesKey(*r) for r in rows.values_list("asset_id", "interval_minutes", "quote_currency", "source")}


def series_pieces(key: SeriesKey, alias: str = DEFAULT_ALIAS, table: str = schema.TABLE,
                  ) -> list[tuple[int, int, int, bool]] | None:
    """The series' kept runs as (start, end, candles, confirmed empty), by time; None when not built."""
    from feefifofunds.models import KeptGap

    if not is_built(alias, table):
        return None
    return list(KeptGap.objects.filter(store=store_of(alias), asset_id=key.asset_id,
                                       interval_minutes=key.interval_minutes, quote_currency=key.quote_currency,
                                       source=key.source).order_by("start_us").values_list(
        "start_us", "end_us", "missing", "confirmed_empty"))


def pieces_where(alias: str = DEFAULT_ALIAS, table: str = schema.TABLE, *, asset_ids: Iterable[int] | None = None,
                 intervals: Iterable[int] | None = None, quote_currency: str | None = None,
                 source: str | None = None) -> tuple[list[tuple], dict[tuple, str]] | None:
    """Kept runs of the matching series as (asset, quote, interval, source, start, end, candles, confirmed
    empty), by series then time, and the calendar of each series judged by one other than 24/7 (by
    (asset, interval, quote, source)); None when not built. The rows are the cursor's own: a store keeps
    hundreds of thousands of runs, and the caller makes its objects from them in one pass."""
    from feefifofunds.models import KeptGap, KeptSeries

    if not is_built(alias, table):
        return None
    store = store_of(alias)
    filters: dict = {"store": store}
    if asset_ids is not None:
        filters["asset_id__in"] = sorted({int(a) for a in asset_ids})
    if intervals is not None:
        filters["interval_minutes__in"] = sorted({int(i) for i in intervals})
    if quote_currency is not None:
        filters["quote_currency"] = quote_currency.upper()
    if source is not None:
        filters["source"] = source
    judged = {(a, i, q, s): c for a, i, q, s, c in KeptSeries.objects.filter(**filters).exclude(
        calendar=calendars.ALWAYS).values_list("asset_id", "interval_minutes", "quote_currency", "source", "calendar")}
    rows = KeptGap.objects.filter(**filters).order_by(  # the series index's order: read without a sort
        "asset_id", "interval_minutes", "quote_currency", "source", "start_us").values_list(
        "asset_id", "quote_currency", "interval_minutes", "source", "start_us", "end_us", "missing",
        "confirmed_empty")
    return _fetched(rows), judged


def _fetched(rows) -> list[tuple]:
    """A values_list queryset's rows through the database cursor: the ORM's per-row conversion costs more
    than the read when a store keeps hundreds of thousands of gap runs (the columns are plain integers,
    strings and a flag)."""
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:  # a filter no row can match (an empty list of ids)
        return []
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
