"""Catalog rows written many at once: one INSERT run by ``executemany`` for all of them.

The ORM's ``bulk_create`` prepares every object field by field (~0.1 ms a row) and builds a statement per
few hundred rows; the rows the store's bookkeeping writes (kept gaps and coverage, notes of spans written,
zip members done) come by the thousand, so they go in as plain tuples through one statement, the same text
for SQLite and PostgreSQL (both take ``ON CONFLICT``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def insert_sql(model, fields: Sequence[str], conflict: Sequence[str] = (), *, ignore: bool = False) -> str:
    """One INSERT of ``fields`` into ``model``'s table; on a ``conflict`` of these fields the other fields are
    updated, or with ``ignore`` (any conflict) the row already there is kept."""
    from django.db import connection

    quote = connection.ops.quote_name
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    if ignore:
        sql += " ON CONFLICT DO NOTHING"
    elif conflict:
        updates = ", ".join(f"{quote(f)} = excluded.{quote(f)}" for f in fields if f not in conflict)
        sql += f" ON CONFLICT ({', '.join(quote(f) for f in conflict)}) DO UPDATE SET {updates}"
    return sql


def insert_rows(model, fields: Sequence[str], rows: Iterable[Sequence], conflict: Sequence[str] = (), *,
                ignore: bool = False) -> None:
    """``rows`` (tuples in the order of ``fields``) inserted by one statement (``insert_sql``), in one
    transaction (the caller's, or one of their own: in autocommit every row would be a commit of its own)."""
    from django.db import connection, transaction

    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.executemany(insert_sql(model, fields, conflict, ignore=ignore), list(rows))
