"""PriceWriter on the real QuestDB: which batches are acknowledged, and which fail when a flush is rejected."""

import numpy as np
import polars as pl
import pytest

from feefifofunds.ingestion.writer import PriceWriter, WriteError, to_ilp_frame
from feefifofunds.store import client, schema
from feefifofunds.store.series import SeriesKey

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = "writer_test"


def candles(n: int, start: int, *, vwap: bool = False) -> pl.DataFrame:
    price = np.linspace(1.0, 2.0, n)
    data = {"time": start + 60 * np.arange(n, dtype=np.int64), "open": price, "high": price + 1,
            "low": price - 0.5, "close": price, "volume": np.ones(n), "trade_count": np.arange(n, dtype=np.int64)}
    if vwap:
        data["vwap"] = price
    return pl.DataFrame(data)


@pytest.fixture
def table(questdb):
    client.execute(f"DROP TABLE IF EXISTS {TABLE}")
    # vwap as VARCHAR: a frame that carries vwap (a double) is refused by the server, the others are not.
    client.execute(schema.create_table_sql(TABLE).replace("vwap DOUBLE", "vwap VARCHAR"))
    client.execute(f"ALTER TABLE {TABLE} DEDUP ENABLE UPSERT KEYS({', '.join(schema.DEDUP_KEYS)})")
    yield TABLE
    client.execute(f"DROP TABLE IF EXISTS {TABLE}")


def count(table: str) -> int:
    client.wait_for_wal(table)
    return client.query(f"SELECT count() FROM {table}")[0][0]


@pytest.mark.parametrize("pipeline", [True, False])
def test_tags_are_acknowledged_once_all_their_rows_are(table, pipeline):
    key = SeriesKey(1, 1, "USD", "kraken")
    with PriceWriter(flush_rows=100, table=table, pipeline=pipeline) as writer:
        writer.add(candles(60, 0), key, tags=["a"])
        writer.done("a")
        writer.add(candles(30, 60 * 60), key, tags=["b"])
        assert writer.acknowledged() == []  # nothing sent yet
        writer.add(candles(30, 90 * 60), key, tags=["b"])  # 120 rows: the buffer goes out
        writer.add(candles(10, 120 * 60), key, tags=["b"])  # b's last rows are in the next buffer
        writer.done("b")
        writer.add(candles(100, 130 * 60), key, tags=["c"])  # full again: a's and b's buffers are both sent
        writer.done("c")
        writer.flush()
        assert writer.acknowledged() == ["a", "b", "c"]
        assert writer.pending_rows == 0 and writer.rows_acknowledged == 230
        writer.done("d")  # nothing pending: safe at once
        assert writer.acknowledged() == ["d"]
    assert count(table) == 230


@pytest.mark.parametrize("pipeline", [True, False])
def test_a_rejected_flush_fails_only_the_tags_with_rows_in_it(table, pipeline):
    key = SeriesKey(1, 1, "USD", "kraken")
    errors, acknowledged = [], []

    def call(method, *args, **kwargs):  # a rejection surfaces at a later call when the flush runs behind
        try:
            method(*args, **kwargs)
        except WriteError as exc:
            errors.append(exc)
        acknowledged.extend(writer.acknowledged())

    with PriceWriter(flush_rows=100, table=table, pipeline=pipeline) as writer:
        call(writer.add, candles(60, 0), key, tags=["a"])
        call(writer.done, "a")
        call(writer.add, candles(60, 3600), key, tags=["b"])  # buffer 1: a, b (sent)
        call(writer.done, "b")
        call(writer.add, candles(150, 7200, vwap=True), key, tags=["c"])  # buffer 2: c alone, refused
        call(writer.done, "c")
        call(writer.add, candles(50, 20000), key, tags=["d"])
        call(writer.done, "d")
        call(writer.flush)
        call(writer.flush)  # d's rows may still be buffered after the error: they go out now
        assert len(errors) == 1 and errors[0].tags == ("c",) and "rejected" in str(errors[0])
        assert acknowledged == ["a", "b", "d"]
    assert count(table) == 170


def test_ilp_frame_is_a_view_of_the_parsed_columns():
    df = candles(1000, 0)
    frame = to_ilp_frame(df, SeriesKey(7, 1, "EUR", "kraken"))
    assert np.shares_memory(frame["close"].to_numpy(), df.get_column("close").to_numpy())
    assert frame["quote_currency"].dtype == "category" and list(frame["quote_currency"].cat.categories) == ["EUR"]
    assert str(frame["time"].dtype) == "datetime64[ns]" and frame["time"].iloc[1].value == 60 * 10**9


def test_discard_drops_only_what_was_not_handed_on(table):
    key = SeriesKey(1, 1, "USD", "kraken")
    with PriceWriter(flush_rows=100, table=table) as writer:
        writer.add(candles(120, 0), key, tags=["sent"])  # full: handed to a flush
        writer.done("sent")
        writer.add(candles(30, 120 * 60), key, tags=["dropped"])
        writer.discard()
        writer.done("dropped")
        assert writer.flush() == 120 and writer.pending_rows == 0
        assert writer.acknowledged() == ["sent"]
    assert count(table) == 120
