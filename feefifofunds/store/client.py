"""The one place that talks to QuestDB: PGWire (psycopg 3) for SQL, ILP over HTTP for writes.

Django's ORM cannot use QuestDB, so every command and module goes through these functions, which take a
QuestDB alias from ``settings.QUESTDB_DATABASES``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg

from feefifofunds.diskfull import server_says_full

from .config import DEFAULT_ALIAS, QuestDBConfig

if TYPE_CHECKING:  # pyarrow and the ILP client are imported by the reads and writes that use them: a command
    import pyarrow as pa  # that only queries (a survey) starts without them
    from questdb import Sender


class QuestDBError(RuntimeError):
    """QuestDB could not be reached or refused an operation; the message is meant for the user."""


def get_config(alias: str = DEFAULT_ALIAS) -> QuestDBConfig:
    from django.conf import settings

    try:
        return settings.QUESTDB_DATABASES[alias]
    except KeyError:
        known = ", ".join(sorted(settings.QUESTDB_DATABASES))
        raise QuestDBError(f"unknown QuestDB alias {alias!r} (configured: {known})") from None


def connect(alias: str = DEFAULT_ALIAS, timeout: float = 10.0) -> psycopg.Connection:
    """A PGWire connection in autocommit mode (QuestDB has no multi-statement transactions)."""
    cfg = get_config(alias)
    try:
        return psycopg.connect(
            host=cfg.host,
            port=cfg.pg_port,
            user=cfg.user,
            password=cfg.password,
            dbname=cfg.database,
            autocommit=True,
            connect_timeout=max(1, int(timeout)),
        )
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QuestDBError(
            f"cannot connect to QuestDB alias {alias!r} at {cfg.describe()}: {first_line}"
        ) from None


@contextmanager
def connection(alias: str = DEFAULT_ALIAS) -> Iterator[psycopg.Connection]:
    conn = connect(alias)
    try:
        yield conn
    finally:
        conn.close()


class _Connections(dict):
    """One thread's reading connections, by server; closed when the thread ends and its storage goes."""

    def __del__(self) -> None:
        for conn in self.values():
            conn.close()


_readers = threading.local()


def query(sql: str, params: Sequence[Any] | None = None, alias: str = DEFAULT_ALIAS, *,
          binary: bool = False) -> list[tuple]:
    """The rows of one statement, over the connection this thread keeps for the alias' server.

    Every read goes this way: readers (a dashboard request, a run comparing each file with what is stored,
    a gap walk) ask many small questions, and a new PGWire connection costs more than most of them (~10 ms).
    Kept per thread because one connection must not serve two threads at once (the gap scan reads from
    two); autocommit, so nothing carries from one question to the next. A connection that failed is closed
    and never reused; a broken one (the server restarted) is replaced and the question asked once more.

    ``binary``: results in PGWire's binary format (no number formatting in QuestDB nor parsing in psycopg;
    the values are the same, a large result arrives about twice as fast)."""
    cfg = get_config(alias)
    conns = _readers.__dict__.get("conns")
    if conns is None:
        conns = _readers.conns = _Connections()
    for attempt in (1, 2):
        conn = conns.get(cfg)
        if conn is None or conn.closed:
            conn = conns[cfg] = connect(alias)
        try:
            return conn.cursor(binary=binary).execute(sql, params).fetchall()
        except psycopg.Error as exc:  # a failed connection is never reused
            conns.pop(cfg, None)
            conn.close()
            if attempt == 2 or not isinstance(exc, psycopg.OperationalError):
                raise
    raise AssertionError("unreachable")


def export(sql: str, alias: str = DEFAULT_ALIAS, timeout: float = 300.0) -> pa.Table:
    """The rows of one statement as an Arrow table, from QuestDB's HTTP export as a Parquet file
    (``/exp?fmt=parquet``): the values as stored, columnar, without a Python object per value (a large
    result is read several times faster than over PGWire). The endpoint takes no parameters: the statement
    carries its values (``literal``). Raises QuestDBError if the server refuses or cannot answer in
    Parquet (a server without the format)."""
    import io
    import urllib.error
    import urllib.parse
    import urllib.request

    import pyarrow as pa

    from . import arrow

    cfg = get_config(alias)
    url = f"{cfg.http_url}/exp?{urllib.parse.urlencode({'query': sql, 'fmt': 'parquet'})}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            kind, body = response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as exc:
        raise QuestDBError(f"QuestDB alias {alias!r} refused an export ({exc.code}): "
                           f"{exc.read()[:300].decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise QuestDBError(f"QuestDB alias {alias!r} did not answer an export at {cfg.http_url}: "
                           f"{getattr(exc, 'reason', exc)}") from None
    if kind != "application/vnd.apache.parquet":
        raise QuestDBError(f"QuestDB alias {alias!r} answered an export in {kind}, not Parquet")
    try:
        return arrow.read_parquet(io.BytesIO(body))
    except pa.ArrowException as exc:
        raise QuestDBError(f"QuestDB alias {alias!r} answered an export with no readable Parquet file: {exc}") from None


def literal(value: int | str | datetime) -> str:
    """A value written into a statement (for ``export``, which takes no parameters): integers as digits,
    text quoted (quotes doubled), times as naive UTC ISO text, the form QuestDB takes."""
    if isinstance(value, bool) or not isinstance(value, int | str | datetime):
        raise TypeError(f"no SQL literal for {value!r}")
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, datetime):
        moment = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return f"'{moment.isoformat(timespec='microseconds')}Z'"
    return "'" + value.replace("'", "''") + "'"


def execute(sql: str, params: Sequence[Any] | None = None, alias: str = DEFAULT_ALIAS) -> None:
    with connection(alias) as conn:
        conn.execute(sql, params)


def sender_conf(alias: str = DEFAULT_ALIAS, *, auto_flush: bool = False) -> str:
    """ILP over HTTP: the server acknowledges each flush, so an error comes back as an exception."""
    cfg = get_config(alias)
    conf = f"http::addr={cfg.host}:{cfg.http_port};protocol_version=2;request_timeout=300000;retry_timeout=30000;"
    conf += "max_buf_size=268435456;"
    if not auto_flush:
        conf += "auto_flush=off;"
    return conf


def open_sender(alias: str = DEFAULT_ALIAS) -> Sender:
    """A persistent ILP/HTTP sender; the caller flushes and closes it (use as a context manager)."""
    from questdb import Sender

    return Sender.from_conf(sender_conf(alias))


def ping(alias: str = DEFAULT_ALIAS, timeout: float = 5.0) -> None:
    """Fail fast, with a clear message, when the ILP/HTTP endpoint does not answer."""
    import urllib.error
    import urllib.request

    cfg = get_config(alias)
    try:
        with urllib.request.urlopen(f"{cfg.http_url}/ping", timeout=timeout) as response:
            if response.status < 300:
                return
            problem = f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise QuestDBError(f"QuestDB alias {alias!r} does not answer at {cfg.http_url}: {problem}")


_BUILD_RE = re.compile(r"QuestDB\s+(?:[A-Za-z]+\s+)?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_build(build: str) -> tuple[int, int, int]:
    """The version number in ``SELECT build()``'s text, e.g. 'Build Information: QuestDB 9.3.4, JDK ...'."""
    match = _BUILD_RE.search(build or "")
    if not match:
        raise QuestDBError(f"cannot find a QuestDB version in {build!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


def server_build(alias: str = DEFAULT_ALIAS) -> str:
    """QuestDB's own build string (``SELECT version()`` only ever answers a fixed PostgreSQL text)."""
    return str(query("SELECT build()", alias=alias)[0][0])


def table_exists(table: str, alias: str = DEFAULT_ALIAS) -> bool:
    rows = query("SELECT count() FROM tables() WHERE table_name = %s", (table,), alias=alias)
    return bool(rows[0][0])


def wait_for_wal(table: str, alias: str = DEFAULT_ALIAS, timeout: float = 300.0) -> None:
    """Block until every WAL transaction of ``table`` is applied, so reads see all acknowledged rows.

    A suspended table is an error, never silently waited on; the message gives QuestDB's reason.
    """
    deadline = time.monotonic() + timeout
    while True:
        rows = query("SELECT writerTxn, sequencerTxn, suspended FROM wal_tables() WHERE name = %s", (table,),
                     alias=alias)
        if not rows:
            return
        writer_txn, sequencer_txn, suspended = rows[0]
        if suspended:
            raise QuestDBError(suspended_message(table, suspension(table, alias) or ""))
        if writer_txn >= sequencer_txn:
            return
        if time.monotonic() > deadline:
            raise QuestDBError(
                f"QuestDB table {table!r} has not applied its WAL after {timeout:.0f}s "
                f"(writer {writer_txn} < sequencer {sequencer_txn})"
            )
        time.sleep(0.02)


def suspension(table: str, alias: str = DEFAULT_ALIAS) -> str | None:
    """Why QuestDB suspended ``table`` (applying its WAL failed), in its words; None when it is not suspended.

    QuestDB keeps accepting writes into a suspended table's WAL and applies none of them until
    ``ALTER TABLE ... RESUME WAL``. A full disk is one cause: its reason then reads "[28] No space left" or
    has the tag "DISK FULL", though a failed out-of-order merge may say only "bulk update failed" (its log
    has "No space left").
    """
    try:
        rows = query("SELECT suspended, errorTag, errorMessage FROM wal_tables() WHERE name = %s", (table,),
                     alias=alias)
    except psycopg.Error:  # a server older than 8.0 has no errorTag/errorMessage columns
        rows = [(*r, "", "") for r in query("SELECT suspended FROM wal_tables() WHERE name = %s", (table,),
                                            alias=alias)]
    if not rows or not rows[0][0]:
        return None
    tag, message = (rows[0][1] or "").strip(), (rows[0][2] or "").strip()
    return ": ".join(part for part in (tag, message) if part) or "no reason given"


def suspended_message(table: str, reason: str) -> str:
    """What a suspended table means and what to do, a full disk said as such when QuestDB's reason shows it."""
    resume = f"ALTER TABLE {table} RESUME WAL (ingest_sequential does it at its start)"
    if server_says_full(reason):
        return (f"QuestDB's disk is full: QuestDB table {table!r} is SUSPENDED, applying its WAL failed ({reason}). "
                f"The rows QuestDB acknowledged wait in its WAL, nothing committed is lost: free space on the "
                f"QuestDB server's disk, then run again or run: {resume}")
    return (f"QuestDB table {table!r} is SUSPENDED: applying its WAL failed ({reason}). The rows QuestDB "
            f"acknowledged wait in its WAL. If QuestDB's disk is full (its log says \"No space left\"), free space "
            f"on it first; then run: {resume}")


def resume_suspended(table: str, alias: str = DEFAULT_ALIAS) -> str | None:
    """If QuestDB suspended ``table``, resume it and wait until its WAL is applied; returns why it was
    suspended (None: it was not). Raises QuestDBError when it suspends again (its disk still full, say).

    Writes a suspended table took in sit in its WAL, acknowledged and invisible: after the disk is freed,
    resuming applies them, so a store whose disk filled ends with every row it acknowledged. The caller
    holds the store lock (nothing else writes meanwhile).
    """
    try:
        reason = suspension(table, alias)
    except psycopg.Error as exc:
        raise QuestDBError(f"QuestDB alias {alias!r} did not say whether {table!r} is suspended: "
                           f"{str(exc).strip()}") from None
    if reason is None:
        return None
    try:
        execute(f"ALTER TABLE {table} RESUME WAL", alias=alias)
    except psycopg.Error as exc:
        raise QuestDBError(f"QuestDB refused to resume its suspended table {table!r} ({reason}): "
                           f"{str(exc).strip()}") from None
    wait_for_wal(table, alias)
    return reason
