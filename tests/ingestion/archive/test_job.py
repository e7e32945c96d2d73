"""The archive job against the real QuestDB and PostgreSQL."""

from dataclasses import replace
from pathlib import Path

import pytest

from feefifofunds.ingestion.archive import Events, FileResult, ingest_files
from feefifofunds.ingestion.writer import PriceWriter, SeriesColumns
from feefifofunds.models import Asset
from feefifofunds.sources.kraken_archive import discover
from feefifofunds.store import client, parquet_import
from tests.support.archive import candle_lines, copy_real_samples, write_file
from tests.support.archive_job import UnserializableFor, run
from tests.support.store import spy_price_reads

pytestmark = pytest.mark.django_db


def stored(ticker: str, quote: str, interval: int) -> list[tuple]:
    asset = Asset.objects.get(ticker=ticker)
    return client.query(
        "SELECT cast(time AS LONG) / 1000000, open, high, low, close, volume, trade_count FROM assetprice "
        "WHERE asset_id = %s AND quote_currency = %s AND interval_minutes = %s AND source = 'kraken' "
        "ORDER BY time", (asset.pk, quote, interval))


def csv_rows(path: Path) -> list[tuple]:
    rows = []
    for line in path.read_text().splitlines():
        t, o, h, lo, c, v, n = line.split(",")
        rows.append((int(t), float(o), float(h), float(lo), float(c), float(v), int(n)))
    return rows


PATHS = pytest.mark.parametrize("write_path", ["parquet", "ilp"])


@PATHS
def test_exact_round_trip_of_real_samples(questdb, tmp_path, write_path):
    data = tmp_path / "data"
    originals = {p.name: csv_rows(p) for p in copy_real_samples(data)}
    summary = run(data, write_path=write_path)
    assert len(summary.by_status("ingested")) == 4 and not summary.failed
    assert summary.rows == sum(len(r) for r in originals.values())
    for name, ticker in (("XBTUSD_1440.csv", "BTC"), ("ETHUSD_1440.csv", "ETH"), ("ADAUSD_1440.csv", "ADA"),
                         ("XMRUSD_1440.csv", "XMR")):
        assert stored(ticker, "USD", 1440) == originals[name], name
        assert (tmp_path / "ingested" / "ohlcv" / name).exists() and not (data / name).exists()


@PATHS
def test_reingest_is_idempotent(questdb, tmp_path, write_path):
    data = tmp_path / "data"
    copy_real_samples(data)
    run(data, write_path=write_path)
    before = {t: stored(t, "USD", 1440) for t in ("BTC", "ETH", "ADA", "XMR")}
    copy_real_samples(data)  # the same candles again, e.g. an overlapping quarterly update
    summary = run(data, write_path=write_path)
    assert summary.rows == sum(len(v) for v in before.values())
    assert {t: stored(t, "USD", 1440) for t in before} == before
    assert client.query("SELECT count() FROM assetprice")[0][0] == sum(len(v) for v in before.values())


def test_usd_and_eur_pairs_of_one_asset_are_both_kept(questdb, tmp_path):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 24, price=100))
    write_file(data / "XBTEUR_60.csv", candle_lines(60, 24, price=90))
    run(data)
    usd, eur = stored("BTC", "USD", 60), stored("BTC", "EUR", 60)
    assert len(usd) == len(eur) == 24
    assert [r[0] for r in usd] == [r[0] for r in eur] and usd[0][1] == 100.0 and eur[0][1] == 90.0
    assert Asset.objects.filter(ticker="BTC").count() == 1


def test_filters_and_auto_created_assets(questdb, tmp_path):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 5))
    write_file(data / "XBTUSD_1440.csv", candle_lines(1440, 5))
    write_file(data / "LINKUSD_60.csv", candle_lines(60, 5))
    write_file(data / "BATEUR_15.csv", candle_lines(15, 5))
    write_file(data / "PEPEUSD_60.csv", candle_lines(60, 5))
    summary = run(data, tiers={"TIER1"}, intervals={60})
    assert [r.file.path.name for r in summary.by_status("ingested")] == ["XBTUSD_60.csv"]
    assert list(Asset.objects.values_list("ticker", flat=True)) == ["BTC"]
    assert (data / "XBTUSD_1440.csv").exists()
    summary = run(data)
    assert summary.assets_created == 3
    tiers = dict(Asset.objects.values_list("ticker", "tier"))
    assert tiers == {"BTC": "TIER1", "LINK": "TIER2", "BAT": "TIER3", "PEPE": "TIER4"}
    btc = Asset.objects.get(ticker="BTC")
    assert (btc.name, btc.category, btc.active) == ("Bitcoin", "CRYPTO", True)
    assert len(stored("BAT", "EUR", 15)) == 5


BAD_LINES = {
    "columns": "1700006400,1,2,0.5,1",
    "non_numeric": "1700006400,1,x,0.5,1,3,4",
    "unaligned": "1700006460,1,2,0.5,1,3,4",
    "high_below_low": "1700006400,1,0.5,2,1,3,4",
    "negative_price": "1700006400,1,2,-0.5,1,3,4",
    "negative_volume": "1700006400,1,2,0.5,1,-3,4",
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
@PATHS
def test_malformed_file_is_not_written_nor_deleted(questdb, tmp_path, case, write_path):
    data = tmp_path / "data"
    good = write_file(data / "ETHUSD_60.csv", candle_lines(60, 10))
    lines = candle_lines(60, 10, start=1_690_000_000)
    bad = write_file(data / "XBTUSD_60.csv", [*lines[:6], BAD_LINES[case], *lines[6:]])
    summary = run(data, write_path=write_path)
    [failed] = summary.failed
    assert failed.file.path == bad and "line 7" in failed.error and str(bad) in failed.error
    assert bad.exists() and bad.read_text().count("\n") == 11
    assert not good.exists() and len(stored("ETH", "USD", 60)) == 10
    btc = Asset.objects.filter(ticker="BTC").first()
    assert btc is None or client.query("SELECT count() FROM assetprice WHERE asset_id = %s", (btc.pk,))[0][0] == 0


def test_bad_line_late_in_a_large_file_writes_nothing(questdb, tmp_path):
    """Chunked files are validated whole before the first row is sent."""
    data = tmp_path / "data"
    lines = candle_lines(1, 20_000)
    lines[-2] = "1700006400,1,0.5,2,1,3,4"
    bad = write_file(data / "XBTUSD_1.csv", lines)
    summary = run(data, chunk_bytes=64 * 1024, flush_rows=1000)
    assert summary.failed and "line 19999" in summary.failed[0].error
    assert client.query("SELECT count() FROM assetprice")[0][0] == 0 and bad.exists()
    assert not Asset.objects.filter(ticker="BTC").exists()  # created only once a whole file passed
    assert not (tmp_path / ".data.staging").exists()  # nothing of it stays staged


def test_large_file_in_chunks_is_complete(questdb, tmp_path):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_1.csv", candle_lines(1, 20_000, skip=set(range(100, 200))))
    summary = run(data, chunk_bytes=64 * 1024, flush_rows=3000)
    assert summary.rows == 19_900 and len(stored("BTC", "USD", 1)) == 19_900


def test_empty_file_is_deleted_and_reported(questdb, tmp_path):
    data = tmp_path / "data"
    empty = write_file(data / "XBTUSD_60.csv", [])
    blank = data / "ETHUSD_60.csv"
    blank.write_text("\n  \n")
    summary = run(data)
    assert [r.status for r in summary.results] == ["empty", "empty"]
    assert not empty.exists() and not blank.exists()
    assert not (tmp_path / "ingested" / "ohlcv" / "XBTUSD_60.csv").exists()


def test_file_moves_only_after_its_rows_are_acknowledged(questdb, tmp_path):
    data = tmp_path / "data"
    for i, pair in enumerate(["XBTUSD", "ETHUSD", "ADAUSD", "SOLUSD"]):
        write_file(data / f"{pair}_60.csv", candle_lines(60, 500 + i))
    seen = []

    class Check(Events):
        def file_finished(self, result: FileResult) -> None:
            client.wait_for_wal("assetprice")
            asset = Asset.objects.get(ticker=result.file.base)
            count = client.query("SELECT count() FROM assetprice WHERE asset_id = %s", (asset.pk,))[0][0]
            seen.append((result.file.pair, count, result.file.path.exists()))

    run(data, events=Check(), flush_rows=700)
    assert seen == [("ADAUSD", 502, False), ("ETHUSD", 501, False), ("SOLUSD", 503, False), ("XBTUSD", 500, False)]


def test_unreachable_questdb_moves_nothing_and_creates_no_asset(questdb, tmp_path):
    data = tmp_path / "data"
    path = write_file(data / "XBTUSD_60.csv", candle_lines(60, 5))
    summary = run(data, alias="unreachable")
    assert "cannot open an ILP/HTTP connection" in summary.error and not summary.ok
    assert path.exists() and not Asset.objects.exists()


def test_stop_on_error(questdb, tmp_path):
    data = tmp_path / "data"
    write_file(data / "AAAUSD_60.csv", ["1700006400,1,2,0.5"])
    write_file(data / "BBBUSD_60.csv", candle_lines(60, 3))
    summary = run(data, stop_on_error=True)
    assert summary.stopped_early and [r.status for r in summary.results] == ["failed"]
    assert (data / "BBBUSD_60.csv").exists()
    summary = run(data)
    assert [r.status for r in summary.results] == ["failed", "ingested"]


class RefusedFor(UnserializableFor):
    values = "text"


@pytest.mark.parametrize(("writer_class", "error"), [(UnserializableFor, "Failed to serialize"),
                                                     (RefusedFor, "not acknowledged")],
                         ids=["cannot-be-serialized", "refused-by-the-server"])
@PATHS
def test_a_file_whose_rows_fail_fails_alone(questdb, tmp_path, writer_class, error, write_path):
    data = tmp_path / "data"
    for pair in ("ADAUSD", "ETHUSD", "XBTUSD"):
        write_file(data / f"{pair}_60.csv", candle_lines(60, 10))
    summary = run(data, write_path=write_path, writer_class=writer_class)
    assert sorted((r.file.pair, r.status, r.rows) for r in summary.results) == [
        ("ADAUSD", "ingested", 10), ("ETHUSD", "failed", 0), ("XBTUSD", "ingested", 10)]
    assert error in summary.failed[0].error and summary.rows == 20
    client.wait_for_wal("assetprice")
    assert client.query("SELECT count() FROM assetprice")[0][0] == 20
    assert (data / "ETHUSD_60.csv").exists() and not (data / "ADAUSD_60.csv").exists()


@PATHS
def test_a_large_file_failing_midway_drops_only_its_own_rows(questdb, tmp_path, write_path):
    """Written in several calls, it starts on an empty buffer; what was acknowledged is counted as written."""

    class LateFailure(UnserializableFor):
        ticker = "BTC"

        def spoils(self, asset_ids, times):  # rows late in the big file
            return super().spoils(asset_ids, times) and times.max() > 1_700_006_400 + 9000 * 60

    data = tmp_path / "data"
    write_file(data / "ADAUSD_1.csv", candle_lines(1, 300))
    write_file(data / "XBTUSD_1.csv", candle_lines(1, 12_000))
    summary = run(data, write_path=write_path, writer_class=LateFailure, chunk_bytes=64 * 1024, flush_rows=3000)
    ada, btc = summary.results
    assert (ada.status, ada.rows) == ("ingested", 300)
    assert btc.status == "failed" and 0 < btc.rows < 12_000 and f"{btc.rows:,} of its rows are stored" in btc.error
    client.wait_for_wal("assetprice")
    assert client.query("SELECT count() FROM assetprice")[0][0] == 300 + btc.rows == summary.rows


def test_a_file_gone_before_it_is_read_is_reported(questdb, tmp_path):
    data = tmp_path / "data"
    gone = write_file(data / "ETHUSD_60.csv", candle_lines(60, 3))
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 3))
    files = discover(data).files
    gone.unlink()
    summary = ingest_files(files, ingested_dir=tmp_path / "ingested")
    assert [(r.file.pair, r.status) for r in summary.results] == [("ETHUSD", "vanished"), ("XBTUSD", "ingested")]
    assert summary.ok and "disappeared" in summary.results[0].error


@PATHS
def test_files_of_one_series_apply_oldest_first_and_report_changes(questdb, tmp_path, write_path):
    data = tmp_path / "data"
    archive_lines = candle_lines(60, 48)
    update = [line.replace(",121.0,", ",121.5,") for line in candle_lines(60, 72)[40:]]  # one candle differs
    write_file(data / "XBTUSD_60.csv", update)  # the update's path sorts first: the order comes from times
    write_file(data / "master_q4" / "XBTUSD_60.csv", archive_lines)
    summary = run(data, write_path=write_path)
    assert [str(r.file.relative) for r in summary.results] == ["master_q4/XBTUSD_60.csv", "XBTUSD_60.csv"]
    assert [r.changed for r in summary.results] == [0, 1]
    rows = stored("BTC", "USD", 60)
    assert len(rows) == 72 and rows[42][1] == 121.5 and rows[41][1] == 120.5


class Recording(PriceWriter):
    """The real writer, noting the time range of every call (to see the order rows reach QuestDB in)."""

    calls: list[tuple[int, int, int]] = []

    def add(self, rows, series, *, tags=()):
        if isinstance(series, SeriesColumns):
            times = rows.get_column("time")
            Recording.calls.append((times.min(), times.max(), rows.get_column("asset_id").n_unique()))
        return super().add(rows, series, tags=tags)


def test_rows_of_all_files_reach_questdb_in_time_order(questdb, tmp_path):
    """Files are sorted by series; the rows are sent across files in time order, so QuestDB appends."""
    data = tmp_path / "data"
    for pair in ("ADAUSD", "ETHUSD", "SOLUSD", "XBTUSD"):
        write_file(data / f"{pair}_60.csv", candle_lines(60, 500))
        write_file(data / f"{pair}_1440.csv", candle_lines(1440, 40, start=1_700_006_400 - 20 * 86400))
    Recording.calls = []
    summary = run(data, writer_class=Recording, flush_rows=300)
    assert summary.ok and summary.rows == 4 * 540
    assert len(Recording.calls) > 5
    assert all(a[1] < b[0] for a, b in zip(Recording.calls, Recording.calls[1:], strict=False))
    assert max(c[2] for c in Recording.calls) == 4  # one call holds rows of several files
    assert stored("SOL", "USD", 60) == csv_rows(tmp_path / "ingested" / "ohlcv" / "SOLUSD_60.csv")


def test_the_scratch_copy_is_removed_and_a_killed_runs_leftover_too(questdb, tmp_path):
    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 50))
    leftover = tmp_path / ".data.staging" / "run-123-456"
    leftover.mkdir(parents=True)
    (leftover / "000000.arrow").write_bytes(b"half a file")
    summary = run(data)
    assert summary.ok and summary.rows == 50
    assert not (tmp_path / ".data.staging").exists()


def test_a_full_staging_is_sent_before_staging_goes_on(questdb, tmp_path):
    """Disk stays bounded: past the byte limit, what is staged is sent (and archived) first."""
    data = tmp_path / "data"
    for pair in ("ADAUSD", "ETHUSD", "SOLUSD", "XBTUSD"):
        write_file(data / f"{pair}_60.csv", candle_lines(60, 300))
    Recording.calls = []
    summary = run(data, writer_class=Recording, staging_max_bytes=1)  # every file fills it
    assert summary.ok and summary.rows == 1200 and len(summary.by_status("ingested")) == 4
    assert [c[2] for c in Recording.calls] == [1, 1, 1, 1]  # sent one file at a time
    assert stored("ETH", "USD", 60) == csv_rows(tmp_path / "ingested" / "ohlcv" / "ETHUSD_60.csv")


def test_parts_sent_while_the_next_files_are_staged(questdb, tmp_path):
    """Both cores: a part goes to QuestDB in the background while the following files are read; each
    part is in time order, every file is archived once its rows are acknowledged."""
    data = tmp_path / "data"
    pairs = ("ADAUSD", "DOTUSD", "ETHUSD", "LINKUSD", "SOLUSD", "XBTUSD")
    for pair in pairs:
        write_file(data / f"{pair}_5.csv", candle_lines(5, 3000))
        write_file(data / f"{pair}_1440.csv", candle_lines(1440, 30, start=1_700_006_400 - 40 * 86400))
    Recording.calls = []
    summary = run(data, writer_class=Recording, flush_rows=2000, part_rows=5000)
    assert summary.ok and summary.rows == 6 * 3030 and len(summary.by_status("ingested")) == 12
    assert len(Recording.calls) > 6
    assert not list(data.glob("*.csv"))
    for pair, ticker in (("ADAUSD", "ADA"), ("XBTUSD", "BTC")):
        assert stored(ticker, "USD", 5) == csv_rows(tmp_path / "ingested" / "ohlcv" / f"{pair}_5.csv")
    client.wait_for_wal("assetprice")
    assert client.query("SELECT count() FROM assetprice")[0][0] == summary.rows


def import_files() -> list[Path]:
    folder = parquet_import.import_folder()
    return sorted(folder.local.glob("fff-*.parquet")) if folder else []


def test_parquet_is_the_default_path_and_leaves_no_import_file(questdb, tmp_path):
    data = tmp_path / "data"
    copy_real_samples(data)
    summary = run(data)
    assert summary.ok and summary.write_path == "parquet" and summary.rows == 1200
    assert import_files() == []


def test_without_an_import_folder_the_server_reads_the_job_writes_over_ilp(questdb, tmp_path, monkeypatch):
    from django.conf import settings

    elsewhere = tmp_path / "not-the-copy-root"
    elsewhere.mkdir()
    config = settings.QUESTDB_DATABASES["questdb"]
    monkeypatch.setitem(settings.QUESTDB_DATABASES, "questdb", replace(config, import_dir=str(elsewhere)))
    notes = []

    class Noted(Events):
        def write_path(self, name, note):
            notes.append((name, note))

    data = tmp_path / "data"
    copy_real_samples(data)
    summary = run(data, events=Noted())
    assert summary.ok and summary.write_path == "ilp" and summary.rows == 1200
    [(name, note)] = notes
    assert name == "ilp" and "cannot read" in note and str(elsewhere) in note
    assert list(elsewhere.iterdir()) == []  # the probe file is gone too
    monkeypatch.setitem(settings.QUESTDB_DATABASES, "questdb", replace(config, import_dir=""))
    assert parquet_import.probe() is not None and run(data).write_path == "ilp"


def test_a_fault_of_the_parquet_reader_is_retried_over_ilp(questdb, tmp_path, monkeypatch):
    """QuestDB cannot read the file (cut short on disk): every file of it is sent again alone over ILP,
    so a reader fault fails no file; a fault in the data still fails its own file (see above)."""
    real = parquet_import.insert_parquet
    cut = []

    def cut_short(alias, name, table=parquet_import.schema.TABLE):
        path = parquet_import.import_folder(alias).local / name
        path.write_bytes(path.read_bytes()[:100])
        cut.append(name)
        return real(alias, name, table)

    monkeypatch.setattr(parquet_import, "insert_parquet", cut_short)
    data = tmp_path / "data"
    originals = {p.name: csv_rows(p) for p in copy_real_samples(data)}
    summary = run(data, write_path="parquet")
    assert cut and summary.ok and summary.rows == 1200 and len(summary.by_status("ingested")) == 4
    assert stored("BTC", "USD", 1440) == originals["XBTUSD_1440.csv"]
    assert import_files() == []


def test_a_killed_runs_import_file_is_removed_by_the_next_run(questdb, tmp_path):
    folder = parquet_import.import_folder()
    leftover = folder.local / folder.new_name()
    leftover.write_bytes(b"PAR1 cut short by a kill")
    foreign = folder.local / "someone-elses.parquet"
    foreign.write_bytes(b"not ours")
    data = tmp_path / "data"
    copy_real_samples(data)
    assert run(data).ok
    assert not leftover.exists() and foreign.exists()
    foreign.unlink()


def test_each_part_of_a_round_is_at_least_as_large_as_all_before_it(questdb, tmp_path, monkeypatch):
    """Every part spans the round's time range and merges into what the parts before it wrote: parts that
    grow with the round keep QuestDB's rewriting within about the round's size."""
    from feefifofunds.ingestion.archive.staging import Staging

    parts: list[int] = []
    detach = Staging.detach

    def recording(self):
        parts.append(self.rows)
        return detach(self)

    monkeypatch.setattr(Staging, "detach", recording)
    data = tmp_path / "data"
    for i in range(12):
        write_file(data / f"P{i:02d}USD_5.csv", candle_lines(5, 1000))
    summary = run(data, flush_rows=500, part_rows=1500)
    assert summary.ok and summary.rows == 12_000
    background = parts[:-1]  # the last detach is the round's end: whatever is left
    assert background, "some parts go in the background (how many depends on when the sender is free)"
    assert all(n >= max(1500, sum(background[:i])) for i, n in enumerate(background))
    assert sum(parts) == 12_000


def test_small_files_taken_together_keep_each_its_own_outcome(questdb, tmp_path):
    """Small files are parsed, checked and staged in one batch; a file the batch cannot take is taken alone
    (its message names the line) and creates no asset; the others are not held back by it."""
    data = tmp_path / "data"
    lines = candle_lines(60, 10)
    write_file(data / "ADAUSD_60.csv", lines)
    unaligned = f"{int(lines[2].split(',')[0]) + 60},1,2,0.5,1,3,4"
    write_file(data / "DOTUSD_60.csv", [*lines[:3], unaligned, *lines[3:]])  # refused by a check
    write_file(data / "ETHUSD_60.csv", [*lines[:4], BAD_LINES["non_numeric"], *lines[4:]])  # refused by the parser
    write_file(data / "LINKUSD_60.csv", [])
    (data / "SOLUSD_60.csv").write_text("\n".join(lines))  # no newline at its end: possibly cut short
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 12))
    summary = run(data)
    assert {r.file.pair: (r.status, r.rows) for r in summary.results} == {
        "ADAUSD": ("ingested", 10), "DOTUSD": ("failed", 0), "ETHUSD": ("failed", 0), "LINKUSD": ("empty", 0),
        "SOLUSD": ("failed", 0), "XBTUSD": ("ingested", 12)}
    errors = {r.file.pair: r.error for r in summary.failed}
    assert "line 4" in errors["DOTUSD"] and "not aligned" in errors["DOTUSD"]
    assert "line 5" in errors["ETHUSD"] and "not a number" in errors["ETHUSD"]
    assert "no newline" in errors["SOLUSD"]
    assert set(Asset.objects.values_list("ticker", flat=True)) == {"ADA", "BTC"} and summary.assets_created == 2
    assert stored("BTC", "USD", 60) == csv_rows(tmp_path / "ingested" / "ohlcv" / "XBTUSD_60.csv")
    assert all((data / f"{pair}_60.csv").exists() for pair in ("DOTUSD", "ETHUSD", "SOLUSD"))


def changed_close(line: str) -> str:
    t, o, h, lo, c, v, n = line.split(",")
    return ",".join([t, o, h, lo, str(float(c) + 0.25), v, n])


def test_an_update_of_many_small_files_reads_stored_candles_once_per_interval(questdb, tmp_path, monkeypatch):
    """A one-day update of every series: per file its own count of changed candles, from one read of the
    stored candles per interval, and one read of the catalog for the run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    data = tmp_path / "data"
    pairs = [f"P{i:02d}USD" for i in range(8)]
    for pair in pairs:
        write_file(data / f"{pair}_60.csv", candle_lines(60, 48))
        write_file(data / f"{pair}_1440.csv", candle_lines(1440, 20))
    reads = spy_price_reads(monkeypatch)
    assert run(data).ok and reads == []  # assets made by this run: nothing stored to compare with
    for i, pair in enumerate(pairs):  # the last 8 hours and 2 days overlap the store; i hourly candles change
        hourly = candle_lines(60, 56)[40:]
        write_file(data / f"{pair}_60.csv", [changed_close(x) if n < i else x for n, x in enumerate(hourly)])
        write_file(data / f"{pair}_1440.csv", candle_lines(1440, 22)[18:])
    with CaptureQueriesContext(connection) as catalog:
        summary = run(data)
    assert summary.ok and len(reads) == 2
    assert {(r.file.pair, r.file.interval_minutes): r.changed for r in summary.results} == {
        **{(pair, 60): i for i, pair in enumerate(pairs)}, **{(pair, 1440): 0 for pair in pairs}}
    assert sum("feefifofunds_asset" in q["sql"] for q in catalog.captured_queries) == 1
    [update] = (tmp_path / "ingested" / "ohlcv").glob("run-*/P03USD_60.csv")  # its name was taken: kept apart
    assert stored("P03", "USD", 60)[40:] == csv_rows(update)


def test_the_plan_opens_only_files_that_share_their_series(tmp_path):
    """The files of one series go by their first time; a file alone in its series is not opened for it."""
    from feefifofunds.ingestion.archive import plan

    data = tmp_path / "data"
    write_file(data / "XBTUSD_60.csv", candle_lines(60, 5, start=1_700_100_000))
    write_file(data / "master_q4" / "XBTUSD_60.csv", candle_lines(60, 5))
    write_file(data / "ETHUSD_60.csv", candle_lines(60, 5))
    write_file(data / "XBTUSD_1440.csv", candle_lines(1440, 5))
    opened = []

    def first_time(f):
        opened.append(str(f.relative))
        return int(f.path.read_text().split(",", 1)[0])

    ordered = plan(discover(data).files, first_time)
    assert [str(f.relative) for f in ordered] == ["XBTUSD_1440.csv", "ETHUSD_60.csv", "master_q4/XBTUSD_60.csv",
                                                  "XBTUSD_60.csv"]
    assert sorted(opened) == ["XBTUSD_60.csv", "master_q4/XBTUSD_60.csv"]
