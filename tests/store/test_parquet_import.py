"""The Parquet write path on the real QuestDB of the fixtures (its copy root is the default alias's import
folder): round trip, DEDUP, refusals, the probe, leftovers."""

import os
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feefifofunds.store import client, parquet_import, schema
from feefifofunds.store.config import local_import_dir
from feefifofunds.store.parquet_import import ParquetImportError

pytestmark = pytest.mark.django_db(transaction=True)

QUOTES = ["USD", "EUR"]
START = 1_700_000_000  # Unix seconds


def window(n: int = 600, start: int = START) -> pl.DataFrame:
    """The archive job's window frame: two series one after the other, time as Unix seconds."""
    half = n // 2
    times = np.concatenate([start + 60 * np.arange(half), start + 300 * np.arange(n - half)]).astype(np.int64)
    price = np.linspace(10.0, 20.0, n)
    vwap = pl.Series("vwap", price * 1.5).scatter([0, 7], None)
    return pl.DataFrame({
        "time": times, "open": price, "high": price + 1, "low": price - 1, "close": price + 0.25,
        "volume": np.linspace(0.5, 1.5, n), "trade_count": np.arange(n, dtype=np.int64), "vwap": vwap,
        "asset_id": np.repeat(np.array([11, 12], np.int32), [half, n - half]),
        "interval_minutes": np.repeat(np.array([1, 5], np.int32), [half, n - half]),
        "quote_code": np.repeat(np.array([0, 1], np.int16), [half, n - half]),
    })


def stored(where: str = "") -> list[tuple]:
    client.wait_for_wal(schema.TABLE)
    return client.query(f"SELECT time, asset_id, interval_minutes, open, high, low, close, volume, trade_count, "
                        f"vwap, quote_currency, source FROM {schema.TABLE} {where} ORDER BY asset_id, time")


def leftovers() -> list[str]:
    folder = parquet_import.import_folder("questdb")
    return sorted(p.name for p in folder.local.glob(f"{parquet_import.FILE_PREFIX}*"))


def test_a_window_round_trips_exactly(questdb):
    rows = window()
    assert parquet_import.import_rows(questdb, parquet_import.window_table(rows, QUOTES, "kraken")) == 600
    got = stored()
    assert len(got) == 600
    expected = rows.sort(["asset_id", "time"])
    for row, want in zip(got, expected.iter_rows(named=True), strict=True):
        assert row[0].replace(tzinfo=UTC) == datetime.fromtimestamp(want["time"], UTC)
        assert row[1:9] == (want["asset_id"], want["interval_minutes"], want["open"], want["high"], want["low"],
                            want["close"], want["volume"], want["trade_count"])
        assert row[9] == want["vwap"]  # None where the window had a null
        assert row[10:] == (QUOTES[want["quote_code"]], "kraken")
    assert sum(r[9] is None for r in got) == 2
    assert leftovers() == []


def test_missing_vwap_and_nan_are_null(questdb):
    rows = window(40).drop("vwap")
    parquet_import.import_rows(questdb, parquet_import.window_table(rows, QUOTES, "kraken"))
    nan = window(40, START + 86400).with_columns(vwap=pl.lit(float("nan")))
    parquet_import.import_rows(questdb, parquet_import.window_table(nan, QUOTES, "kraken"))
    assert [r[9] for r in stored()] == [None] * 80


def test_reinsert_keeps_the_count_and_later_values_win(questdb):
    rows = window()
    parquet_import.import_rows(questdb, parquet_import.window_table(rows, QUOTES, "kraken"))
    assert len(stored()) == 600
    changed = rows.with_columns(close=pl.lit(99.5), vwap=pl.lit(None, pl.Float64))
    parquet_import.import_rows(questdb, parquet_import.window_table(changed, QUOTES, "kraken"))
    got = stored()
    assert len(got) == 600
    assert {(r[6], r[9]) for r in got} == {(99.5, None)}


def test_parquet_and_ilp_commits_apply_in_commit_order(questdb):
    rows = window(50)

    def ilp(close: float) -> None:
        frame = rows.with_columns(close=pl.lit(close), time=pl.from_epoch("time"),
                                  quote_currency=pl.col("quote_code").replace_strict([0, 1], QUOTES),
                                  source=pl.lit("kraken")).drop("quote_code").to_pandas()
        with client.open_sender(questdb) as sender:
            sender.dataframe(frame, table_name=schema.TABLE, symbols=["quote_currency", "source"], at="time")
            sender.flush()

    def parquet(close: float) -> None:
        table = parquet_import.window_table(rows.with_columns(close=pl.lit(close)), QUOTES, "kraken")
        parquet_import.import_rows(questdb, table)

    ilp(1.0)
    parquet(2.0)
    assert {r[6] for r in stored()} == {2.0}
    ilp(3.0)
    parquet(4.0)
    ilp(5.0)
    got = stored()
    assert len(got) == 50 and {r[6] for r in got} == {5.0}


def test_a_refused_file_raises_with_questdbs_message_and_is_deleted(questdb):
    table = parquet_import.window_table(window(20), QUOTES, "kraken")
    with pytest.raises(ParquetImportError) as refused:
        with parquet_import.import_file(questdb) as (name, path):
            bad = table.set_column(0, "time", table.column("time").cast(pa.int64()))
            pq.write_table(bad, str(path))
            parquet_import.insert_parquet(questdb, name)
    assert "expected timestamp column but type is LONG" in refused.value.server_message
    assert str(path) in str(refused.value) or name in str(refused.value)
    assert leftovers() == [] and stored() == []


def test_a_refused_insert_through_the_helper_deletes_its_file(questdb):
    table = parquet_import.window_table(window(20), QUOTES, "kraken")
    with pytest.raises(ParquetImportError, match="no_such_table"):
        parquet_import.import_rows(questdb, table, table="no_such_table")
    assert leftovers() == []


def test_rows_that_do_not_fit_the_columns_are_refused_before_any_file(questdb):
    with pytest.raises(ValueError, match="not a timestamp"):
        parquet_import.conform(pl.DataFrame({"time": [1], "asset_id": [1]}))
    table = parquet_import.window_table(window(20), QUOTES, "kraken")
    fractional = table.set_column(8, "trade_count", pa.array(np.full(20, 1.5)))
    with pytest.raises(pa.ArrowInvalid):
        parquet_import.import_rows(questdb, fractional)
    assert leftovers() == []


def test_probe_reads_through_the_test_server(questdb):
    assert parquet_import.probe(questdb) is None
    assert leftovers() == []


@pytest.fixture
def alias_with(settings, questdb_server):
    """A QuestDB alias on the test server with the given import folders."""

    def make(**folders) -> str:
        settings.QUESTDB_DATABASES = {**settings.QUESTDB_DATABASES, "probed": replace(questdb_server, **folders)}
        return "probed"

    return make


def test_probe_says_when_the_server_cannot_see_the_folder(questdb, alias_with, questdb_server, tmp_path):
    alias = alias_with(import_dir=str(tmp_path))
    sentence = parquet_import.probe(alias)
    assert sentence and "cannot read" in sentence and f"copy root {questdb_server.import_dir}" in sentence
    assert "QUESTDB_PROBED_IMPORT_DIR_SERVER" in sentence
    assert list(tmp_path.iterdir()) == []


def test_probe_tells_to_restart_a_local_server_started_without_the_folder(questdb, alias_with, monkeypatch,
                                                                          tmp_path):
    # The local server's import folder, which the running server (like one started before it had a copy
    # root there) does not read.
    monkeypatch.setenv("FEEFIFOFUNDS_STATE_DIR", str(tmp_path))
    folder = local_import_dir(os.environ)
    folder.mkdir(parents=True)
    sentence = parquet_import.probe(alias_with(import_dir=str(folder)))
    assert sentence and sentence.endswith("restart the local QuestDB so that it reads this folder: "
                                          "make stop && make services")
    folder.rmdir()
    assert parquet_import.probe(alias_with(import_dir=str(folder))) == (
        f"the Parquet import folder {folder} does not exist; restart the local QuestDB so that it reads this "
        "folder: make stop && make services")


def test_probe_says_when_the_server_path_is_wrong(questdb, alias_with, questdb_server):
    alias = alias_with(import_dir=questdb_server.import_dir, import_dir_server="/nowhere/import")
    sentence = parquet_import.probe(alias)
    assert sentence and "/nowhere/import/fff-" in sentence and "does not exist" in sentence


def test_probe_without_a_folder_or_with_a_missing_one(questdb, alias_with, tmp_path):
    assert "QUESTDB_PROBED_IMPORT_DIR is empty" in parquet_import.probe(alias_with(import_dir=""))
    missing = tmp_path / "gone"
    assert f"{missing} does not exist" in parquet_import.probe(alias_with(import_dir=str(missing)))


def test_probe_says_when_the_folder_is_not_writable(questdb, alias_with):
    # /proc takes no new files, not even from root (the tests may run as root, where permissions do not hold).
    assert parquet_import.probe(alias_with(import_dir="/proc")).startswith(
        "cannot write to the Parquet import folder /proc: ")


def test_remove_leftovers_removes_only_this_servers_import_files(questdb, alias_with, tmp_path):
    folder = parquet_import.import_folder(questdb)
    ours = [folder.local / folder.new_name(), folder.local / folder.new_name("probe-")]
    foreign = [folder.local / "fff-0123456789-abc.parquet", folder.local / "mine.parquet"]
    for path in ours + foreign:
        path.write_bytes(b"x")
    try:
        assert parquet_import.remove_leftovers(questdb) == 2
        assert not any(p.exists() for p in ours) and all(p.exists() for p in foreign)
    finally:
        for path in foreign:
            path.unlink(missing_ok=True)
    assert parquet_import.remove_leftovers(alias_with(import_dir="")) == 0
    assert parquet_import.remove_leftovers(alias_with(import_dir=str(tmp_path / "gone"))) == 0


def test_the_files_have_the_tables_columns(questdb):
    arrow = {"TIMESTAMP": pa.timestamp("us", tz="UTC"), "INT": pa.int32(), "DOUBLE": pa.float64(),
             "LONG": pa.int64(), "SYMBOL": pa.string()}
    columns = client.query(f"SELECT \"column\", type FROM table_columns('{schema.TABLE}')")
    assert [(name, arrow[kind]) for name, kind in columns] == [(f.name, f.type) for f in parquet_import.PARQUET_SCHEMA]


def test_a_full_import_folder_is_disk_full_and_leaves_no_file(questdb, alias_with, tmp_path):
    from feefifofunds.diskfull import DiskFull
    from tests.support.disks import fill, small_disk

    with small_disk(tmp_path / "imports", "64k") as folder:
        alias = alias_with(import_dir=str(folder))
        filler = fill(folder)
        sentence = f"the Parquet import folder {folder} (filesystem {folder}, 64.0 KiB) is full"
        assert parquet_import.probe(alias) == sentence  # the run says so and writes over ILP
        filler.unlink()
        with pytest.raises(DiskFull) as raised:
            parquet_import.import_rows(alias, parquet_import.window_table(window(20_000), QUOTES, "kraken"))
        assert str(raised.value) == f"{sentence}: free space there and run again; nothing committed is lost"
        assert list(folder.iterdir()) == []
    assert stored() == []
