"""The one writer: every source's candles reach QuestDB through here, over one persistent ILP/HTTP sender.

ILP over HTTP makes each flush a transaction the server acknowledges (or rejects with an error), so a
caller knows exactly which rows are safe once ``flush()`` returns. DEDUP on the table makes re-sending
the same candles harmless.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
from questdb import Sender

from feefifofunds.store import client, schema

# Rows per acknowledged HTTP request (about 190 bytes each on the wire, so ~95 MiB per flush). Large
# flushes matter: QuestDB applies each flush once per touched day partition, and that per-partition cost,
# not the row count, dominates when many pairs share the same days.
DEFAULT_FLUSH_ROWS = int(os.environ.get("FEEFIFOFUNDS_FLUSH_ROWS", 500_000))


class WriteError(RuntimeError):
    pass


@dataclass(frozen=True)
class SeriesKey:
    asset_id: int
    interval_minutes: int
    quote_currency: str
    source: str


def _constant_category(value: str, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])


def to_ilp_frame(candles: pl.DataFrame, key: SeriesKey, *, time_col: str = "time") -> pd.DataFrame:
    """Candles (CANDLE_SCHEMA, or ``time`` as Unix seconds) to the pandas frame the ILP client serializes."""
    n = candles.height
    time = candles.get_column(time_col)
    if time.dtype.is_integer():
        ns = time.to_numpy().astype("int64") * 1_000_000_000
    else:
        ns = time.dt.epoch("ns").to_numpy()
    data: dict[str, object] = {
        "asset_id": np.full(n, key.asset_id, dtype=np.int32),
        "interval_minutes": np.full(n, key.interval_minutes, dtype=np.int32),
    }
    for col in ("open", "high", "low", "close", "volume"):
        data[col] = candles.get_column(col).cast(pl.Float64).to_numpy()
    if "trade_count" in candles.columns:
        tc = candles.get_column("trade_count")
        data["trade_count"] = tc.to_numpy() if tc.null_count() == 0 else pd.array(tc.to_list(), dtype="Int64")
    if "vwap" in candles.columns and candles.get_column("vwap").null_count() < n:
        data["vwap"] = candles.get_column("vwap").cast(pl.Float64).fill_null(np.nan).to_numpy()
    data["quote_currency"] = _constant_category(key.quote_currency, n)
    data["source"] = _constant_category(key.source, n)
    data["time"] = ns.view("datetime64[ns]")
    return pd.DataFrame(data, copy=False)


class PriceWriter:
    """Buffers candles of many series and sends them in acknowledged flushes.

    ``add()`` only buffers (flushing by itself once ``flush_rows`` are pending); ``flush()`` returns once
    QuestDB has acknowledged everything buffered so far. Use as a context manager: one connection per run.
    """

    def __init__(self, alias: str = "questdb", *, flush_rows: int = DEFAULT_FLUSH_ROWS, table: str = schema.TABLE):
        self.alias = alias
        self.table = table
        self.flush_rows = flush_rows
        self.pending_rows = 0
        self.rows_acknowledged = 0
        self._sender: Sender | None = None

    def __enter__(self) -> PriceWriter:
        try:
            client.ping(self.alias)
        except client.QuestDBError as exc:
            raise WriteError(f"cannot open an ILP/HTTP connection: {exc}") from None
        self._sender = client.open_sender(self.alias)
        self._sender.establish()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._sender is None:
            return
        try:
            if exc_info[0] is None:
                self.flush()
        finally:
            sender, self._sender = self._sender, None
            sender.close(flush=False)

    def add(self, candles: pl.DataFrame, key: SeriesKey, *, time_col: str = "time") -> bool:
        """Buffer candles; returns True if this call flushed (everything so far is acknowledged)."""
        if candles.height == 0:
            return False
        if self._sender is None:
            raise WriteError("PriceWriter used outside its `with` block")
        frame = to_ilp_frame(candles, key, time_col=time_col)
        try:
            self._sender.dataframe(frame, table_name=self.table, symbols=list(schema.SYMBOL_COLUMNS), at="time")
        except Exception as exc:
            raise WriteError(f"cannot serialize candles for {key}: {exc}") from None
        self.pending_rows += candles.height
        if self.pending_rows >= self.flush_rows:
            self.flush()
            return True
        return False

    def flush(self) -> int:
        """Send everything buffered; returns the number of rows QuestDB acknowledged."""
        if self._sender is None or self.pending_rows == 0:
            return 0
        try:
            # One table per buffer, so the server commits all of it or none of it.
            self._sender.flush(transactional=True)
        except Exception as exc:  # the client clears its buffer on failure: nothing is half-sent
            self.pending_rows = 0
            raise WriteError(f"QuestDB rejected a write to {self.table!r}: {exc}") from None
        acknowledged, self.pending_rows = self.pending_rows, 0
        self.rows_acknowledged += acknowledged
        return acknowledged

    def discard(self) -> None:
        """Drop every buffered, unsent row (the client's own buffer has no clear(): start a fresh sender)."""
        if self._sender is None:
            return
        sender, self._sender = self._sender, None
        sender.close(flush=False)
        self.pending_rows = 0
        self._sender = client.open_sender(self.alias)
        self._sender.establish()

    def write(self, candles: pl.DataFrame, key: SeriesKey, *, time_col: str = "time") -> int:
        """Buffer and flush at once: returns after every row is acknowledged."""
        self.add(candles, key, time_col=time_col)
        self.flush()
        return candles.height

    def wait_visible(self) -> None:
        """Block until QuestDB has applied the WAL, so reads see every acknowledged row."""
        client.wait_for_wal(self.table, alias=self.alias)


def write_candles(candles: pl.DataFrame, key: SeriesKey, alias: str = "questdb") -> int:
    """One-shot helper for small writes (API sources): open, write, wait until visible."""
    with PriceWriter(alias) as writer:
        n = writer.write(candles, key)
        writer.wait_visible()
    return n
