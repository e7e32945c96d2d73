"""export_prices: Parquet and CSV round trips against the real QuestDB, streamed in small chunks."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO

import polars as pl
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.store import client, schema
from feefifofunds.store.series import SeriesKey
from tests.support.market import T0, load_market, make_candles

pytestmark = pytest.mark.django_db

CANDLE_COLS = ["time", "open", "high", "low", "close", "volume", "trade_count", "vwap"]


@pytest.fixture
def market(questdb, db):
    return load_market()


def read_csv(path) -> pl.DataFrame:
    return pl.read_csv(path, schema_overrides={"trade_count": pl.Int64, "interval_minutes": pl.Int32}).with_columns(
        pl.col("time").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC"))


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_round_trip_equals_stored_candles(market, tmp_path, ext):
    out = tmp_path / f"btc.{ext}"
    stdout = StringIO()
    # chunk-rows 100 so the 1437 candles take 15 queries and 15 row groups / CSV batches.
    call_command("export_prices", str(out), "--ticker", "btc", "--interval", "1", "--chunk-rows", "100",
                 stdout=stdout)
    assert "Exported 1437 candles" in stdout.getvalue()
    got = pl.read_parquet(out) if ext == "parquet" else read_csv(out)
    assert got.columns == ["time", "ticker", "quote_currency", "interval_minutes", "source", *CANDLE_COLS[1:]]
    assert got.select(CANDLE_COLS).equals(market.btc_1m.select(CANDLE_COLS))
    assert set(got["ticker"]) == {"BTC"} and set(got["source"]) == {"kraken"} and set(got["quote_currency"]) == {"USD"}
    if ext == "parquet":
        assert pq.ParquetFile(out).metadata.num_row_groups == 15


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_selection_range_source_and_nulls(market, tmp_path, ext):
    out = tmp_path / f"aapl.{ext}"
    call_command("export_prices", str(out), "--ticker", "AAPL", "--interval", "1440", "--source", "massive",
                 "--start", "2024-01-03", "--end", "2024-01-06T00:00:00Z", stdout=StringIO())
    got = pl.read_parquet(out) if ext == "parquet" else read_csv(out)
    expected = market.aapl_1d.filter(pl.col("time").is_between(T0 + timedelta(days=2), T0 + timedelta(days=5),
                                                               closed="left"))
    assert got.height == 3 and got.select(CANDLE_COLS).equals(expected.select(CANDLE_COLS))
    assert got["trade_count"].null_count() == 3

    eur = tmp_path / f"eur.{ext}"
    call_command("export_prices", str(eur), "--ticker", "BTC", "--interval", "60", "--quote-currency", "eur",
                 stdout=StringIO())
    got = pl.read_parquet(eur) if ext == "parquet" else read_csv(eur)
    assert got.select(CANDLE_COLS).equals(market.btc_eur_1h.select(CANDLE_COLS))


def test_empty_selection_writes_an_empty_file(market, tmp_path):
    out = tmp_path / "none.parquet"
    call_command("export_prices", str(out), "--ticker", "ETH", "--interval", "60", stdout=StringIO())
    assert pl.read_parquet(out).height == 0


def test_errors(market, tmp_path):
    with pytest.raises(CommandError, match="no asset with ticker 'NOPE'"):
        call_command("export_prices", str(tmp_path / "x.csv"), "--ticker", "nope", "--interval", "60")
    with pytest.raises(CommandError, match="end must be after start"):
        call_command("export_prices", str(tmp_path / "x.csv"), "--ticker", "BTC", "--interval", "60",
                     "--start", "2024-01-02", "--end", "2024-01-01")
    with pytest.raises(CommandError, match="format"):
        call_command("export_prices", str(tmp_path / "x.txt"), "--ticker", "BTC", "--interval", "60")
    with pytest.raises(CommandError):
        call_command("export_prices", str(tmp_path / "x.csv"), "--ticker", "BTC", "--interval", "7")
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.django_db(transaction=True)
def test_real_process(questdb, command_env, tmp_path):
    load_market()
    out = tmp_path / "btc.csv"
    ok = subprocess.run([sys.executable, "manage.py", "export_prices", str(out), "--ticker", "BTC", "--interval", "60"],
                        env=command_env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert read_csv(out).height == 68
    bad = subprocess.run([sys.executable, "manage.py", "export_prices", str(out), "--ticker", "BTC", "--interval",
                          "60", "--start", "notadate"], env=command_env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_without_quote_the_existing_series_is_chosen_usd_first(market, tmp_path):
    eth_eur = make_candles(T0, 60, 5, seed=9, base=2000)
    with PriceWriter("questdb") as writer:
        writer.add(eth_eur, SeriesKey(market.eth.pk, 60, "EUR", "kraken"))
    client.wait_for_wal(schema.TABLE)
    out = tmp_path / "eth.csv"
    call_command("export_prices", str(out), "--ticker", "ETH", "--interval", "60", stdout=StringIO())
    got = read_csv(out)
    assert set(got["quote_currency"]) == {"EUR"} and got.select(CANDLE_COLS).equals(eth_eur.select(CANDLE_COLS))
    both = tmp_path / "btc.csv"  # BTC hourly exists in USD and EUR: USD first
    call_command("export_prices", str(both), "--ticker", "BTC", "--interval", "60", stdout=StringIO())
    assert set(read_csv(both)["quote_currency"]) == {"USD"}


@pytest.mark.django_db(transaction=True)
def test_output_path_errors_are_clear_and_write_nothing(questdb, command_env, tmp_path):
    load_market()
    folder = tmp_path / "exports"
    folder.mkdir()
    for target, message in ((folder / "missing" / "btc.csv", "does not exist"), (folder, "is a directory")):
        proc = subprocess.run([sys.executable, "manage.py", "export_prices", str(target), "--ticker", "BTC",
                               "--interval", "60", "--format", "csv"],
                              env=command_env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert message in proc.stderr and str(target) in proc.stderr and "Traceback" not in proc.stderr
    assert list(folder.iterdir()) == []
