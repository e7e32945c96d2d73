"""The QuestDB table ``assetprice``: one row per candle, deduplicated by QuestDB itself.

DEDUP keys deliberately include ``quote_currency`` (the command reference omits it): without it the
BTC/USD and BTC/EUR candles of one asset, time and interval would overwrite each other.

Partitioned by MONTH (migration 0006; 0003 created it by DAY): an archive of 1-minute to daily candles has
a few thousand rows per pair and day, so day partitions were tiny and numerous (thousands of files touched
per commit, "could not mmap" past ~8,000 of them) while months hold the millions QuestDB is sized for.
``rebuild`` changes the partitioning of an existing table by copying it range by range (README: layout).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

import psycopg

from .client import QuestDBError, connection, wait_for_wal
from .lock import LOCKED_EXIT_CODE, LockBusy, store_lock

TABLE = "assetprice"
DEDUP_KEYS: tuple[str, ...] = ("time", "asset_id", "interval_minutes", "source", "quote_currency")
SYMBOL_COLUMNS: tuple[str, ...] = ("quote_currency", "source")

PARTITION_BY = "MONTH"
COLUMNS_SQL = """(
    time TIMESTAMP,
    asset_id INT,
    interval_minutes INT,
    open DOUBLE,
    high DOUBLE,
    low DOUBLE,
    close DOUBLE,
    volume DOUBLE,
    trade_count LONG,
    vwap DOUBLE,
    quote_currency SYMBOL,
    source SYMBOL
)"""


def create_table_sql(table: str = TABLE, partition_by: str = PARTITION_BY) -> str:
    return f"CREATE TABLE IF NOT EXISTS {table} {COLUMNS_SQL} TIMESTAMP(time) PARTITION BY {partition_by} WAL"


CREATE_TABLE_SQL = create_table_sql()


def create_table(alias: str) -> None:
    with connection(alias) as conn:
        conn.execute(CREATE_TABLE_SQL)


def drop_table(alias: str) -> None:
    with connection(alias) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def enable_dedup(alias: str) -> None:
    """Turn DEDUP on; returns once the WAL has applied it (the ALTER is asynchronous on a WAL table)."""
    with connection(alias) as conn:
        conn.execute(f"ALTER TABLE {TABLE} DEDUP ENABLE UPSERT KEYS({', '.join(DEDUP_KEYS)})")
    wait_for_wal(TABLE, alias=alias)


def disable_dedup(alias: str) -> None:
    """Turn DEDUP off; returns once the WAL has applied it, so the next step (or reader) sees it off."""
    with connection(alias) as conn:
        conn.execute(f"ALTER TABLE {TABLE} DEDUP DISABLE")
    wait_for_wal(TABLE, alias=alias)


def dedup_state(alias: str) -> tuple[bool, tuple[str, ...]]:
    """Whether DEDUP is on, and the upsert key columns in table order."""
    with connection(alias) as conn:
        enabled = conn.execute("SELECT dedup FROM tables() WHERE table_name = %s", (TABLE,)).fetchone()
        keys = conn.execute(
            f"SELECT \"column\" FROM table_columns('{TABLE}') WHERE upsertKey"
        ).fetchall()
    return bool(enabled and enabled[0]), tuple(k[0] for k in keys)


def partitioning(alias: str, table: str = TABLE) -> str | None:
    """The table's PARTITION BY unit (DAY, MONTH, ...), or None when the table does not exist."""
    with connection(alias) as conn:
        row = conn.execute("SELECT partitionBy FROM tables() WHERE table_name = %s", (table,)).fetchone()
    return row[0] if row else None


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return bool(conn.execute("SELECT count() FROM tables() WHERE table_name = %s", (table,)).fetchone()[0])


def _ddl_like(conn: psycopg.Connection, source: str, target: str, partition_by: str) -> tuple[str, str, list[str]]:
    """CREATE TABLE for ``target`` with ``source``'s columns (types, symbol capacity, indexes), no DEDUP yet."""
    cols = conn.execute(
        "SELECT \"column\", type, indexed, symbolCached, symbolCapacity, designated "
        f"FROM table_columns('{source}')"
    ).fetchall()
    parts, designated = [], None
    for name, col_type, indexed, cached, capacity, is_designated in cols:
        spec = f"{name} {col_type}"
        if col_type == "SYMBOL":
            spec += f" CAPACITY {capacity} {'CACHE' if cached else 'NOCACHE'}" + (" INDEX" if indexed else "")
        parts.append(spec)
        if is_designated:
            designated = name
    if designated is None:
        raise QuestDBError(f"table {source!r} has no designated timestamp; cannot rebuild it")
    return (f"CREATE TABLE {target} ({', '.join(parts)}) TIMESTAMP({designated}) "
            f"PARTITION BY {partition_by} WAL"), designated, [c[0] for c in cols]


def _stamp(value: datetime) -> str:
    return value.strftime("'%Y-%m-%dT%H:%M:%S.%fZ'")


def rebuild(alias: str, partition_by: str, *, table: str = TABLE, batch_rows: int = 5_000_000) -> bool:
    """Re-create ``table`` partitioned by ``partition_by``, keeping every row, the columns, DEDUP keys and WAL.

    Rows are copied with ``INSERT ... SELECT`` over consecutive old partitions of at most about
    ``batch_rows`` rows each (in time order, so the copy appends), so memory and statement time stay
    bounded whatever the table size. The copy is checked (row count) before it replaces the original by
    ``RENAME TABLE``. DEDUP is enabled on the copy only after the rows are in: rows the original holds are
    kept as they are, even ones the keys would merge. A run killed half-way leaves the original in place
    (or puts it back); running again starts over. Returns False when there was nothing to do.
    """
    staging, previous = f"{table}__rebuild", f"{table}__previous"
    with connection(alias) as conn:
        if not _exists(conn, table) and _exists(conn, previous):  # killed between the two renames
            conn.execute(f"RENAME TABLE {previous} TO {table}")
        conn.execute(f"DROP TABLE IF EXISTS {staging}")
        if not _exists(conn, table):
            return False
        current = conn.execute("SELECT partitionBy FROM tables() WHERE table_name = %s", (table,)).fetchone()[0]
        if _exists(conn, previous):
            if current == partition_by:  # killed after the swap, before dropping the original
                conn.execute(f"DROP TABLE {previous}")
                return False
            conn.execute(f"DROP TABLE {previous}")
        if current == partition_by:
            return False
        wait_for_wal(table, alias=alias)
        enabled = conn.execute("SELECT dedup FROM tables() WHERE table_name = %s", (table,)).fetchone()[0]
        keys = [k[0] for k in conn.execute(
            f"SELECT \"column\" FROM table_columns('{table}') WHERE upsertKey").fetchall()]
        ddl, ts, names = _ddl_like(conn, table, staging, partition_by)
        conn.execute(ddl)
        column_list = ", ".join(names)
        partitions = conn.execute(
            f"SELECT minTimestamp, maxTimestamp, numRows FROM table_partitions('{table}') "
            "WHERE numRows > 0 ORDER BY minTimestamp").fetchall()
        batch: list[tuple[datetime, datetime, int]] = []

        def copy() -> None:
            low, high = batch[0][0], batch[-1][1]
            conn.execute(f"INSERT INTO {staging} ({column_list}) SELECT {column_list} FROM {table} "
                         f"WHERE {ts} >= {_stamp(low)} AND {ts} <= {_stamp(high)}")
            batch.clear()

        for part in partitions:
            if batch and sum(p[2] for p in batch) + part[2] > batch_rows:
                copy()
            batch.append(part)
        if batch:
            copy()
        wait_for_wal(staging, alias=alias)
        if enabled and keys:
            conn.execute(f"ALTER TABLE {staging} DEDUP ENABLE UPSERT KEYS({', '.join(keys)})")
        wait_for_wal(staging, alias=alias)
        before = conn.execute(f"SELECT count() FROM {table}").fetchone()[0]
        after = conn.execute(f"SELECT count() FROM {staging}").fetchone()[0]
        if before != after:
            conn.execute(f"DROP TABLE {staging}")
            raise QuestDBError(f"rebuilding {table!r} copied {after:,} of {before:,} rows; the original is "
                               "unchanged (was something writing to it?)")
        conn.execute(f"RENAME TABLE {table} TO {previous}")
        conn.execute(f"RENAME TABLE {staging} TO {table}")
        conn.execute(f"DROP TABLE {previous}")
    return True


def for_migration(op: Callable[[str], None]) -> Callable[[str], None]:
    """Run a QuestDB step of a migration holding the store lock; failures become a clear CommandError.

    A busy lock (another run writing prices) is a CommandError with exit code 75, as in the writing commands.
    """

    @functools.wraps(op)
    def run(alias: str) -> None:
        from django.core.management.base import CommandError

        try:
            with store_lock(alias):
                op(alias)
        except LockBusy as exc:
            raise CommandError(str(exc), returncode=LOCKED_EXIT_CODE) from None
        except QuestDBError as exc:
            raise CommandError(f"QuestDB migration step {op.__name__} failed: {exc}") from None
        except psycopg.Error as exc:
            raise CommandError(f"QuestDB refused {op.__name__} on alias {alias!r}: {exc}") from None

    return run
