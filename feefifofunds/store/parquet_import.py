"""Bulk writes through QuestDB's own Parquet reader: a window of rows becomes one Parquet file in a folder
the server reads, inserted with one ``INSERT INTO assetprice SELECT ... FROM read_parquet(...)``.

ILP makes the client print every value as text and QuestDB parse it back; a Parquet file in the table's
own column types costs the client a fraction of that and QuestDB reads it column by column (issue 17 has
the figures). The INSERT goes through the WAL like an ILP commit: one transaction per statement (``INSERT
ATOMIC``), DEDUP applies (the later commit wins, whichever path made it), and the statement's return is
the commit (``client.wait_for_wal`` makes it visible, as for ILP). A refused file writes nothing.

Where the files go. ``read_parquet()`` reads only at or below the server's ``cairo.sql.copy.root``
(``QDB_CAIRO_SQL_COPY_ROOT``). Each QuestDB alias names one folder twice (``store/config.py``):
``import_dir`` (``QUESTDB_IMPORT_DIR``), the folder as this machine sees it, where files are written and
deleted; and ``import_dir_server`` (``QUESTDB_IMPORT_DIR_SERVER``), the absolute path of that same folder
on the server, default the same path (a server on this machine). The server path must be the copy root
itself or a folder below it, spelled as the server's copy root is configured: QuestDB is given the file
as ``<import_dir_server>/<name>`` and accepts an absolute path only when it begins with its copy root (any
other it looks for below the copy root, and reports missing). For a server in a container, bind-mount a
host folder on the container's copy root (``docker-compose.yml``). ``probe()`` checks all of it with one
read that inserts nothing.

Files are named ``fff-<server key>-<random>.parquet`` (the key is the server's host and HTTP port, as the
store lock's), so ``remove_leftovers`` deletes exactly what a killed run against that server left behind.

A full disk is ``diskfull.DiskFull``, never a refusal of the rows: the import folder full while the file is
written (the partial file is deleted), or QuestDB's own disk full when it takes the INSERT into its WAL
("[28] No space left", nothing of the file written).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from feefifofunds.diskfull import full, is_full, questdb_full, server_says_full, where_full

from . import arrow, schema
from .client import QuestDBError, connection, get_config
from .config import DEFAULT_ALIAS, alias_prefix, local_import_dir

# The table's columns as Parquet: time in microseconds UTC (QuestDB's TIMESTAMP), the symbols as strings.
PARQUET_SCHEMA = pa.schema([
    ("time", pa.timestamp("us", tz="UTC")),
    ("asset_id", pa.int32()),
    ("interval_minutes", pa.int32()),
    *arrow.PRICE_FIELDS,
    ("quote_currency", pa.string()),
    ("source", pa.string()),
])
NULLABLE = ("trade_count", "vwap")  # may be missing from the rows: written as nulls
COLUMNS = tuple(PARQUET_SCHEMA.names)

# Measured with benchmarks/parquet_probe.py (2 shared cores, windows of 250 K to 2 M rows): uncompressed,
# Snappy and LZ4 cost the client and QuestDB the same CPU within the machine's noise (client ~0.1 us/row,
# QuestDB ~1.0-1.6 us/row from 500 K rows on), and neither did row groups of 100 K instead of one per file;
# LZ4 (LZ4_RAW, QuestDB's own default for Parquet) makes files a quarter smaller than uncompressed.
# Dictionary pages only for the two symbols (on every column they double the client's time) and no column
# statistics (a third of the client's time; reading the whole file does not use them).
COMPRESSION = "lz4"
ROW_GROUP_ROWS = 1_000_000
FILE_PREFIX = "fff-"

_ROWS_RE = re.compile(r"(\d+)\s*$")


class ParquetImportError(QuestDBError):
    """QuestDB refused a Parquet import; ``server_message`` is QuestDB's own words (empty when none)."""

    def __init__(self, message: str, server_message: str = ""):
        super().__init__(message)
        self.server_message = server_message


@dataclass(frozen=True)
class ImportFolder:
    """One alias's import folder, as this machine and as the server see it."""

    alias: str
    local: Path
    server: str
    prefix: str  # every file this module writes for this server starts with it

    def server_path(self, name: str) -> str:
        return f"{self.server.rstrip('/')}/{name}"

    def new_name(self, kind: str = "") -> str:
        return f"{self.prefix}{kind}{uuid.uuid4().hex}.parquet"


def import_folder(alias: str = DEFAULT_ALIAS) -> ImportFolder | None:
    """The alias's import folder, or None when it has none configured."""
    cfg = get_config(alias)
    if not cfg.import_dir:
        return None
    key = hashlib.sha1(f"{cfg.host}:{cfg.http_port}".encode()).hexdigest()[:10]
    return ImportFolder(alias, Path(cfg.import_dir), cfg.server_import_dir, f"{FILE_PREFIX}{key}-")


def _require_folder(alias: str) -> ImportFolder:
    folder = import_folder(alias)
    if folder is None:
        raise ParquetImportError(f"QuestDB alias {alias!r} has no Parquet import folder "
                                 f"({alias_prefix(alias)}_IMPORT_DIR is empty)")
    return folder


# --- writing -----------------------------------------------------------------------------------------

def window_table(rows: pl.DataFrame, quotes: Sequence[str], source: str) -> pa.Table:
    """The archive job's window frame (``time`` as Unix seconds, ``quote_code`` indexing ``quotes``, one
    ``source`` for all) as the table's columns; numeric columns are not copied, the symbols stay codes."""
    n = rows.height
    seconds = rows.get_column("time").to_numpy().astype(np.int64, copy=False)
    columns: dict[str, pa.Array] = {
        "time": arrow.array(seconds * 1_000_000, PARQUET_SCHEMA.field("time").type),
        "asset_id": rows.get_column("asset_id").to_arrow(),
        "interval_minutes": rows.get_column("interval_minutes").to_arrow(),
    }
    for name in ("open", "high", "low", "close", "volume", *NULLABLE):
        if name in rows.columns:
            columns[name] = rows.get_column(name).to_arrow()
    columns["quote_currency"] = pa.DictionaryArray.from_arrays(
        arrow.array(rows.get_column("quote_code").to_numpy()), arrow.strings(list(quotes)))
    columns["source"] = pa.DictionaryArray.from_arrays(arrow.array(np.zeros(n, np.int8)), arrow.strings([source]))
    return conform(pa.Table.from_arrays(list(columns.values()), names=list(columns)))


def _column_type(field: pa.Field, array: pa.ChunkedArray) -> pa.DataType:
    if pa.types.is_string(field.type) and pa.types.is_dictionary(array.type):
        return pa.dictionary(array.type.index_type, pa.string())  # written as Parquet dictionary pages
    return field.type


def conform(data: pa.Table | pl.DataFrame) -> pa.Table:
    """The rows with exactly the Parquet file's columns and types (safe casts only: a value that would
    change raises), nullable columns that are missing added as nulls.

    QuestDB converts what it is given where it can (a string ``'12'`` into an INT, ``1.5`` into a LONG
    as 1), so the types are fixed here, where a mismatch is an error, not on the server.
    """
    table = data.to_arrow() if isinstance(data, pl.DataFrame) else data
    arrays, fields = [], []
    for field in PARQUET_SCHEMA:
        if field.name not in table.column_names:
            if field.name not in NULLABLE:
                raise ValueError(f"the rows have no {field.name!r} column")
            array: pa.ChunkedArray | pa.Array = pa.nulls(table.num_rows, field.type)
            target = field.type
        else:
            array = table.column(field.name)
            if pa.types.is_timestamp(field.type) and not pa.types.is_timestamp(array.type):
                raise ValueError(f"column {field.name!r} is {array.type}, not a timestamp")
            target = _column_type(field, array)
            if array.type != target:
                array = array.cast(target)
        arrays.append(array)
        fields.append(pa.field(field.name, target))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_parquet(data: pa.Table | pl.DataFrame, path: Path | str, *, compression: str = COMPRESSION,
                  row_group_rows: int = ROW_GROUP_ROWS) -> int:
    """Write the rows (the table's columns, see ``conform``) as one Parquet file QuestDB reads; returns its
    size in bytes. NaN and null alike become NULL in QuestDB's DOUBLE columns."""
    table = conform(data)
    pq.write_table(table, str(path), compression=compression, row_group_size=row_group_rows,
                   use_dictionary=["quote_currency", "source"], write_statistics=False)
    return os.path.getsize(path)


# --- inserting ---------------------------------------------------------------------------------------

def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def insert_sql(path_on_server: str, table: str = schema.TABLE) -> str:
    """The one statement. ATOMIC: one WAL transaction whatever the file's size (a plain INSERT ... SELECT
    commits every ``cairo.sql.insert.model.batch.size`` rows, 1 M by default, so a refusal past the first
    million would leave those in). Symbols arrive as VARCHAR and are cast; the time column needs no cast."""
    select = ", ".join(f"cast({c} AS symbol) {c}" if c in schema.SYMBOL_COLUMNS else c for c in COLUMNS)
    return (f"INSERT ATOMIC INTO {table} ({', '.join(COLUMNS)}) SELECT {select} "
            f"FROM read_parquet({_literal(path_on_server)})")


def _server_message(exc: psycopg.Error) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def insert_parquet(alias: str, relative_name: str, table: str = schema.TABLE) -> int:
    """Insert one Parquet file of the alias's import folder (``relative_name`` below it) into ``table``.

    Returns the rows QuestDB reports inserted (before DEDUP: re-inserted rows count), -1 when it reports
    none; once it returns, the rows are committed to the WAL. A refusal raises ParquetImportError carrying
    QuestDB's message (DiskFull when that message says its disk is full); nothing of the file is written then.
    """
    folder = _require_folder(alias)
    path = folder.server_path(relative_name)
    with connection(alias) as conn:
        try:
            cursor = conn.execute(insert_sql(path, table))
        except psycopg.Error as exc:
            message = _server_message(exc)
            if server_says_full(message):
                raise questdb_full(f"QuestDB alias {alias!r} at {get_config(alias).describe()}", message) from None
            raise ParquetImportError(f"QuestDB alias {alias!r} refused to insert {path} into {table}: {message}",
                                     message) from None
    match = _ROWS_RE.search(cursor.statusmessage or "")
    return int(match[1]) if match else -1


@contextmanager
def import_file(alias: str = DEFAULT_ALIAS) -> Iterator[tuple[str, Path]]:
    """A fresh file name in the alias's import folder, ``(relative name, local path)``; the file is deleted
    on leaving, whatever happened, so the folder holds only the files being written or inserted."""
    folder = _require_folder(alias)
    name = folder.new_name()
    path = folder.local / name
    try:
        yield name, path
    finally:
        path.unlink(missing_ok=True)


def import_rows(alias: str, data: pa.Table | pl.DataFrame, *, table: str = schema.TABLE,
                compression: str = COMPRESSION, row_group_rows: int = ROW_GROUP_ROWS) -> int:
    """Write the rows as a Parquet file, insert it, delete it; returns the rows inserted.

    QuestDB reporting another number of rows than the file holds is an error (it read another file); no space
    left in the import folder for the file is DiskFull naming the folder.
    """
    table_rows = conform(data)
    with import_file(alias) as (name, path):
        try:
            write_parquet(table_rows, path, compression=compression, row_group_rows=row_group_rows)
        except OSError as exc:
            if is_full(exc):
                raise full("the Parquet import folder", path.parent, exc) from None
            raise
        inserted = insert_parquet(alias, name, table)
    if inserted not in (-1, table_rows.num_rows):
        raise ParquetImportError(f"QuestDB alias {alias!r} inserted {inserted:,} rows from a file of "
                                 f"{table_rows.num_rows:,}")
    return table_rows.num_rows


# --- checks and cleanup ------------------------------------------------------------------------------

def _copy_root(conn: psycopg.Connection) -> str | None:
    """The server's ``cairo.sql.copy.root`` as it reports it, or None when it does not say."""
    try:
        for row in conn.execute("SHOW PARAMETERS").fetchall():
            if row[0] == "cairo.sql.copy.root":
                return str(row[2] or "")
    except psycopg.Error:
        return None
    return None


def _hint(folder: ImportFolder) -> str:
    prefix = alias_prefix(folder.alias)
    if folder.local == local_import_dir(os.environ) and folder.server == str(folder.local):
        return "restart the local QuestDB so that it reads this folder: make stop && make services"
    return (f"give the server that folder as its copy root (QDB_CAIRO_SQL_COPY_ROOT) or set "
            f"{prefix}_IMPORT_DIR_SERVER to where the server sees {folder.local} (docker-compose.yml has an example)")


def probe(alias: str = DEFAULT_ALIAS) -> str | None:
    """Whether the Parquet path works for ``alias``: None when QuestDB reads a file written to the import
    folder, else a sentence saying why not and what to do. Inserts nothing (one ``SELECT count()``).

    Raises QuestDBError only when the server cannot be reached at all (the ILP path would fail too).
    """
    folder = import_folder(alias)
    if folder is None:
        return (f"QuestDB alias {alias!r} has no Parquet import folder ({alias_prefix(alias)}_IMPORT_DIR is "
                "empty)")
    if not folder.local.is_dir():
        return f"the Parquet import folder {folder.local} does not exist; {_hint(folder)}"
    name = folder.new_name("probe-")
    path = folder.local / name
    rows = 3
    sample = pa.Table.from_arrays([arrow.array(np.arange(rows, dtype=np.int64), pa.timestamp("us", tz="UTC"))],
                                  names=["time"])
    try:
        try:
            pq.write_table(sample, str(path), compression=COMPRESSION)
        except OSError as exc:
            if is_full(exc):
                return where_full("the Parquet import folder", folder.local, exc)
            return f"cannot write to the Parquet import folder {folder.local}: {exc.strerror or exc}"
        sql = f"SELECT count() FROM read_parquet({_literal(folder.server_path(name))})"
        with connection(alias) as conn:
            try:
                seen = conn.execute(sql).fetchone()[0]
            except psycopg.Error as exc:
                root = _copy_root(conn)
                where = ("it has no copy root (cairo.sql.copy.root)" if root == "" else
                         f"it reads only below its copy root {root}" if root else
                         "it reads only below its copy root (cairo.sql.copy.root)")
                return (f"QuestDB alias {alias!r} cannot read {folder.server_path(name)}, the probe file written "
                        f"to {folder.local}: {where}, which is not that folder ({_server_message(exc)}); "
                        f"{_hint(folder)}")
    finally:
        path.unlink(missing_ok=True)
    if seen != rows:
        return f"QuestDB alias {alias!r} read {seen} rows from a probe file of {rows} in {folder.local}"
    return None


def remove_leftovers(alias: str = DEFAULT_ALIAS) -> int:
    """Delete the import files a killed run left for this alias's server; returns how many.

    Call it holding the store lock: a file of a live run against the same server would go too.
    """
    folder = import_folder(alias)
    if folder is None or not folder.local.is_dir():
        return 0
    removed = 0
    for path in folder.local.glob(f"{folder.prefix}*.parquet"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
