"""The one writer: every source's candles reach QuestDB through here, in acknowledged commits.

Two ways to the server, one buffering and acknowledgement logic (``PriceWriter``):

* ``IlpTransport``: ILP over HTTP, one persistent sender; each flush is a transaction the server
  acknowledges (or rejects with an error). Every writer uses it by default.
* ``ParquetTransport``: the bulk path. A buffer of rows becomes one Parquet file in the store's import
  folder, inserted by QuestDB's own Parquet reader in one atomic ``INSERT ... SELECT FROM read_parquet()``
  and deleted once the statement has returned (``store.parquet_import``). The client writes columns in the
  table's types instead of printing every value as text for the server to parse back.

DEDUP on the table makes re-sending the same candles harmless either way. A flush that fails because a
disk is full (the import folder, QuestDB's own, or the catalog's, where the spans are noted) is a
``WriteError`` whose ``disk_full`` says so: the rows are not at fault, and a caller that writes on would
only fill the same disk again.

Both cores work at once: while QuestDB takes in one full buffer (a background thread waits for its
acknowledgement; the client and pyarrow release the GIL meanwhile), the caller fills the next one. At most
one flush is in flight, so buffers are acknowledged in the order they were filled, and a caller learns which
of its batches are safe through tags: ``add(..., tags=[t])`` says rows of ``t`` are in the buffer,
``done(t)`` says ``t`` has no more rows, and ``acknowledged()`` returns the tags whose every row QuestDB has
acknowledged.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
import polars as pl
import pyarrow as pa
from django.db import DatabaseError
from questdb import Sender

from feefifofunds.diskfull import DiskFull, catalog_full, questdb_full, server_says_full
from feefifofunds.store import client, parquet_import, schema, written
from feefifofunds.store.config import DEFAULT_ALIAS
from feefifofunds.store.series import SeriesKey

# Rows per acknowledged HTTP request (about 190 bytes each on the wire, so ~95 MiB per flush; two buffers
# exist at once). Large flushes matter: QuestDB's work per commit grows with the partitions it touches.
DEFAULT_FLUSH_ROWS = int(os.environ.get("FEEFIFOFUNDS_FLUSH_ROWS", 500_000))


class WriteError(RuntimeError):
    """QuestDB refused a flush (or a frame could not be serialized); ``tags`` had rows in it. ``disk_full``:
    the flush failed for want of disk space (the message is its own), not because of its rows."""

    def __init__(self, message: str, tags: tuple[Hashable, ...] = (), disk_full: DiskFull | None = None):
        super().__init__(message)
        self.tags = tags
        self.disk_full = disk_full


@dataclass(frozen=True)
class SeriesColumns:
    """Rows of many series of one source, each row's series in its columns: ``asset_id``,
    ``interval_minutes`` and ``quote_code`` (an index into ``quotes``)."""

    quotes: Sequence[str]
    source: str


def _constant_category(value: str, n: int) -> pd.Categorical:
    import pandas as pd  # imported when needed: it costs a second at start-up
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])


def _float_numpy(series: pl.Series) -> np.ndarray:
    """Zero-copy when the column is already Float64 without nulls (the parser's output)."""
    if series.dtype != pl.Float64:
        series = series.cast(pl.Float64)
    if series.null_count():
        series = series.fill_null(np.nan)
    return series.to_numpy()


def to_ilp_frame(rows: pl.DataFrame, series: SeriesKey | SeriesColumns) -> pd.DataFrame:
    """Candles (CANDLE_SCHEMA, or ``time`` as Unix seconds) of one series, or rows of many
    (``SeriesColumns``), to the pandas frame the ILP client serializes.

    The client takes pandas only; numeric columns are handed over as numpy views of polars' buffers (no
    copy), constant symbols as one-category categoricals (no strings per row).
    """
    import pandas as pd  # imported when needed: it costs a second at start-up
    n = rows.height
    time = rows.get_column("time")
    if time.dtype.is_integer():
        ns = time.to_numpy().astype(np.int64, copy=False) * 1_000_000_000
    else:
        ns = time.dt.epoch("ns").to_numpy()
    if isinstance(series, SeriesKey):
        data: dict[str, object] = {
            "asset_id": np.full(n, series.asset_id, dtype=np.int32),
            "interval_minutes": np.full(n, series.interval_minutes, dtype=np.int32),
        }
        quote = _constant_category(series.quote_currency, n)
    else:
        data = {
            "asset_id": rows.get_column("asset_id").to_numpy(),
            "interval_minutes": rows.get_column("interval_minutes").to_numpy(),
        }
        quote = pd.Categorical.from_codes(rows.get_column("quote_code").to_numpy(), categories=series.quotes)
    for col in ("open", "high", "low", "close", "volume"):
        data[col] = _float_numpy(rows.get_column(col))
    if "trade_count" in rows.columns:
        tc = rows.get_column("trade_count")
        data["trade_count"] = tc.to_numpy() if tc.null_count() == 0 else pd.array(tc.to_list(), dtype="Int64")
    if "vwap" in rows.columns and rows.get_column("vwap").null_count() < n:
        data["vwap"] = _float_numpy(rows.get_column("vwap"))
    data["quote_currency"] = quote
    data["source"] = _constant_category(series.source, n)
    data["time"] = ns.view("datetime64[ns]")
    return pd.DataFrame(data, copy=False)


class Transport(ABC):
    """How a buffer of rows reaches QuestDB as one transaction; ``PriceWriter`` does everything else."""

    name: str

    def open(self, alias: str, table: str) -> None:
        self.alias, self.table = alias, table

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def new_buffer(self) -> Any: ...

    @abstractmethod
    def append(self, buffer: Any, rows: pl.DataFrame, series: SeriesKey | SeriesColumns) -> None:
        """Add rows to the buffer; raises if they cannot be written in the table's types."""

    @abstractmethod
    def commit(self, buffer: Any) -> None:
        """Send the buffer; returns once QuestDB has committed all of it (or raises: none of it)."""

    @abstractmethod
    def clear(self, buffer: Any) -> None: ...


class IlpTransport(Transport):
    """ILP over HTTP: one persistent sender, one transaction per flush (a single table per buffer)."""

    name = "ilp"

    def open(self, alias: str, table: str) -> None:
        super().open(alias, table)
        self.sender: Sender = client.open_sender(alias)
        self.sender.establish()

    def close(self) -> None:
        self.sender.close(flush=False)

    def new_buffer(self) -> Any:
        return self.sender.new_buffer()

    def append(self, buffer: Any, rows: pl.DataFrame, series: SeriesKey | SeriesColumns) -> None:
        buffer.dataframe(to_ilp_frame(rows, series), table_name=self.table, symbols=list(schema.SYMBOL_COLUMNS),
                         at="time")

    def commit(self, buffer: Any) -> None:
        try:
            self.sender.flush(buffer, clear=False, transactional=True)
        except Exception as exc:  # the client's error, whatever its class: QuestDB's words say what it was
            if server_says_full(str(exc)):
                cfg = client.get_config(self.alias)
                raise questdb_full(f"QuestDB alias {self.alias!r} at {cfg.http_url}", str(exc)) from exc
            raise

    def clear(self, buffer: Any) -> None:
        buffer.clear()


class ParquetTransport(Transport):
    """A buffer is a list of Arrow tables in the table's types; committing writes them as one Parquet file
    in the import folder, inserts it atomically and deletes it (in the background thread: pyarrow and the
    wait for QuestDB release the GIL). The folder holds at most the one file being written or inserted."""

    name = "parquet"

    def close(self) -> None:
        """Nothing stays open: each commit opens its own PGWire connection for the INSERT."""

    def new_buffer(self) -> Any:
        return []

    def append(self, buffer: Any, rows: pl.DataFrame, series: SeriesKey | SeriesColumns) -> None:
        if isinstance(series, SeriesKey):  # one series: its key as columns, like a window's rows
            rows = rows.with_columns(pl.lit(series.asset_id, pl.Int32).alias("asset_id"),
                                     pl.lit(series.interval_minutes, pl.Int32).alias("interval_minutes"),
                                     pl.lit(0, pl.Int16).alias("quote_code"))
            series = SeriesColumns([series.quote_currency], series.source)
        if not rows.get_column("time").dtype.is_integer():
            rows = rows.with_columns(pl.col("time").dt.epoch("s"))
        buffer.append(parquet_import.window_table(rows, series.quotes, series.source))

    def commit(self, buffer: Any) -> None:
        parquet_import.import_rows(self.alias, pa.concat_tables(buffer, promote_options="permissive"),
                                   table=self.table)

    def clear(self, buffer: Any) -> None:
        buffer.clear()


TRANSPORTS: dict[str, type[Transport]] = {t.name: t for t in (IlpTransport, ParquetTransport)}


@dataclass
class _Batch:
    """One buffer and what the caller needs to know once QuestDB has answered for it."""

    buffer: Any
    rows: int = 0
    holds: dict[Hashable, None] = field(default_factory=dict)  # tags with rows in this buffer (ordered)
    completes: list[Hashable] = field(default_factory=list)  # tags whose last row is here or earlier
    spans: dict[SeriesKey, tuple[int, int]] = field(default_factory=dict)  # what it holds of each series

    def reset(self, transport: Transport) -> None:
        transport.clear(self.buffer)
        self.rows = 0
        self.spans.clear()
        self.holds.clear()
        self.completes.clear()


class PriceWriter:
    """Buffers candles of many series and sends them in acknowledged flushes, overlapping with the caller.

    ``add()`` puts rows into the current buffer; once it holds ``flush_rows`` rows it is handed to a
    background flush (after the previous one is acknowledged) and filling goes on in the other buffer.
    ``flush()`` returns once QuestDB has acknowledged everything added so far. ``pipeline=False`` flushes
    in the caller's thread instead. ``transport``: "ilp" (default) or "parquet" (``TRANSPORTS``). Use as a
    context manager: one connection per run.

    Before a buffer is sent, the span of each series in it is noted in the catalog (``store.written``), in the
    caller's thread, so the kept coverage and gaps look at it again; ``notes=False`` for a caller that notes
    its spans itself (the archive job sends from a background thread and notes each part before it goes).
    """

    def __init__(self, alias: str = DEFAULT_ALIAS, *, flush_rows: int = DEFAULT_FLUSH_ROWS, table: str = schema.TABLE,
                 pipeline: bool = True, transport: str = IlpTransport.name, notes: bool = True):
        self.alias = alias
        self.notes = written.Notes(alias) if notes else None
        self.table = table
        self.flush_rows = flush_rows
        self.pipeline = pipeline
        self.transport: Transport = TRANSPORTS[transport]()
        self.pending_rows = 0  # added, not yet acknowledged
        self.rows_acknowledged = 0
        self._open = False
        self._current: _Batch | None = None
        self._spare: _Batch | None = None
        self._inflight: tuple[_Batch, Future | None] | None = None
        self._acknowledged: list[Hashable] = []
        self._failed: set[Hashable] = set()  # tags with rows in a rejected flush: never acknowledged
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> PriceWriter:
        try:
            client.ping(self.alias)
        except client.QuestDBError as exc:
            raise WriteError(f"cannot open an ILP/HTTP connection: {exc}") from None
        self.transport.open(self.alias, self.table)
        self._open = True
        self._current = _Batch(self.transport.new_buffer())
        self._spare = _Batch(self.transport.new_buffer())
        if self.pipeline:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="questdb-flush")
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._open:
            return
        try:
            if exc_info[0] is None:
                self.flush()
        finally:
            if self._inflight is not None:  # an exception left a flush running: let it end, ignore it
                try:
                    self._collect()
                except WriteError:
                    pass
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            self._open = False
            self.transport.close()

    def add(self, rows: pl.DataFrame, series: SeriesKey | SeriesColumns, *,
            tags: Iterable[Hashable] = ()) -> bool:
        """Buffer rows (of the caller's batches ``tags``, if given); returns True if a full buffer was
        handed on.

        May raise the WriteError of the previous flush (its ``tags`` say whose rows it held); what this
        call added stays buffered and goes out with the next flush.
        """
        if rows.height == 0:
            return False
        if not self._open or self._current is None:
            raise WriteError("PriceWriter used outside its `with` block")
        tags = tuple(tags)
        batch = self._current
        try:
            self.transport.append(batch.buffer, rows, series)
        except Exception as exc:
            self._failed.update(tags)
            about = f" for {series}" if isinstance(series, SeriesKey) else ""
            raise WriteError(f"cannot serialize candles{about}: {exc}", tags) from None
        batch.rows += rows.height
        self.pending_rows += rows.height
        batch.holds.update(dict.fromkeys(tags))
        if self.notes is not None:
            written.merge(batch.spans, written.spans_of(rows, series) if isinstance(series, SeriesKey) else
                          written.spans_of(rows, quotes=series.quotes, source=series.source))
        if batch.rows >= self.flush_rows:
            self._send()
            return True
        return False

    def done(self, tag: Hashable) -> None:
        """``tag`` has no more rows: report it by ``acknowledged()`` once everything added so far is safe."""
        if tag in self._failed:
            return
        if self._current is not None and self._current.rows:
            self._current.completes.append(tag)
        elif self._inflight is not None:
            self._inflight[0].completes.append(tag)
        else:
            self._acknowledged.append(tag)

    def acknowledged(self) -> list[Hashable]:
        """Tags (passed to ``done``) whose rows QuestDB has all acknowledged since the last call, in order."""
        tags, self._acknowledged = self._acknowledged, []
        return tags

    def flush(self) -> int:
        """Send everything buffered and wait; returns the number of rows acknowledged by this call."""
        before = self.rows_acknowledged
        if self._current is not None and self._current.rows:
            self._send()
        self._collect()
        return self.rows_acknowledged - before

    def discard(self) -> None:
        """Drop every buffered row not yet handed to a flush (a flush in flight still completes)."""
        if self._current is not None:
            self.pending_rows -= self._current.rows
            self._failed.update(self._current.holds)
            self._current.reset(self.transport)

    def write(self, candles: pl.DataFrame, key: SeriesKey) -> int:
        """Buffer and flush at once: returns after every row is acknowledged."""
        self.add(candles, key)
        self.flush()
        return candles.height

    def wait_visible(self) -> None:
        """Block until QuestDB has applied the WAL, so reads see every acknowledged row."""
        client.wait_for_wal(self.table, alias=self.alias)

    # --- the two buffers ---------------------------------------------------------------------------------

    def _send(self) -> None:
        """Hand the current buffer on (after the previous flush is acknowledged); fill the other one."""
        self._collect()
        batch = self._current
        if self.notes is not None:
            try:
                self.notes.cover(batch.spans)
            except DatabaseError as exc:
                self._failed.update(batch.holds)
                full = catalog_full(exc)
                raise WriteError(str(full) if full else f"noting the spans written in the catalog: {exc}",
                                 tuple(batch.holds), disk_full=full) from None
        if self._pool is not None:
            self._inflight = (batch, self._pool.submit(self.transport.commit, batch.buffer))
        else:
            self._inflight = (batch, None)
            try:
                self.transport.commit(batch.buffer)
            except Exception as exc:  # kept for _collect to report, like a background failure
                self._inflight = (batch, _failed(exc))
        self._current, self._spare = self._spare, None
        if self._pool is None:
            self._collect()

    def _collect(self) -> None:
        """Wait for the flush in flight; account for it; its buffer becomes the spare one."""
        if self._inflight is None:
            return
        batch, future = self._inflight
        self._inflight = None
        try:
            error = future.exception() if future is not None else None
        finally:
            self.pending_rows -= batch.rows
        if error is None:
            self.rows_acknowledged += batch.rows
            self._acknowledged.extend(t for t in batch.completes if t not in self._failed)
        tags = tuple(dict.fromkeys([*batch.holds, *batch.completes]))
        if error is not None:
            self._failed.update(tags)
        batch.reset(self.transport)
        self._spare = batch
        if isinstance(error, DiskFull):
            raise WriteError(str(error), tags, disk_full=error)
        if error is not None:
            raise WriteError(f"QuestDB rejected a write to {self.table!r}: {error}", tags)


def _failed(exc: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future
