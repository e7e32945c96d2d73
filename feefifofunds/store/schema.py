"""The QuestDB table ``assetprice``: one row per candle, deduplicated by QuestDB itself.

DEDUP keys deliberately include ``quote_currency`` (the command reference omits it): without it the
BTC/USD and BTC/EUR candles of one asset, time and interval would overwrite each other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import psycopg

from .client import QuestDBError, connection

TABLE = "assetprice"
DEDUP_KEYS: tuple[str, ...] = ("time", "asset_id", "interval_minutes", "source", "quote_currency")
SYMBOL_COLUMNS: tuple[str, ...] = ("quote_currency", "source")

CREATE_TABLE_SQL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
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
) TIMESTAMP(time) PARTITION BY DAY WAL
"""


def create_table(alias: str) -> None:
    with connection(alias) as conn:
        conn.execute(CREATE_TABLE_SQL)


def drop_table(alias: str) -> None:
    with connection(alias) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def enable_dedup(alias: str) -> None:
    with connection(alias) as conn:
        conn.execute(f"ALTER TABLE {TABLE} DEDUP ENABLE UPSERT KEYS({', '.join(DEDUP_KEYS)})")


def disable_dedup(alias: str) -> None:
    with connection(alias) as conn:
        conn.execute(f"ALTER TABLE {TABLE} DEDUP DISABLE")


def dedup_state(alias: str) -> tuple[bool, tuple[str, ...]]:
    """Whether DEDUP is on, and the upsert key columns in table order."""
    with connection(alias) as conn:
        enabled = conn.execute("SELECT dedup FROM tables() WHERE table_name = %s", (TABLE,)).fetchone()
        keys = conn.execute(
            f"SELECT \"column\" FROM table_columns('{TABLE}') WHERE upsertKey"
        ).fetchall()
    return bool(enabled and enabled[0]), tuple(k[0] for k in keys)


def for_migration(op: Callable[[str], None]) -> Callable[[str], None]:
    """Turn QuestDB failures inside a migration into a CommandError: a clear message, no traceback."""

    @functools.wraps(op)
    def run(alias: str) -> None:
        from django.core.management.base import CommandError

        try:
            op(alias)
        except QuestDBError as exc:
            raise CommandError(f"QuestDB migration step {op.__name__} failed: {exc}") from None
        except psycopg.Error as exc:
            raise CommandError(f"QuestDB refused {op.__name__} on alias {alias!r}: {exc}") from None

    return run
