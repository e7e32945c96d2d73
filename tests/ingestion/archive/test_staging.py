"""Staging and time-ordered sending across files, on the real QuestDB."""

import numpy as np
import polars as pl
import pytest

from feefifofunds.ingestion.archive.staging import Staging
from feefifofunds.ingestion.writer import PriceWriter
from feefifofunds.store import client
from feefifofunds.store.series import SeriesKey

DAY = 86400


def series(start: int, n: int, step: int, close: float = 1.0) -> pl.DataFrame:
    price = np.full(n, close)
    return pl.DataFrame({"time": start + step * np.arange(n, dtype=np.int64), "open": price, "high": price + 1,
                         "low": price - 0.5, "close": price, "volume": np.ones(n),
                         "trade_count": np.arange(n, dtype=np.int64)})


def chunks(df: pl.DataFrame, size: int):
    return [df.slice(i, size) for i in range(0, df.height, size)]


FILES = {  # tag: (key, candles): a long daily file, a short 1-minute one, and an hourly one in reverse order
    "daily": (SeriesKey(1, 1440, "USD", "kraken"), series(0, 400, DAY)),
    "minute": (SeriesKey(2, 1, "EUR", "kraken"), series(200 * DAY, 5000, 60)),
    "hourly": (SeriesKey(1, 60, "USD", "kraken"), series(100 * DAY, 3000, 3600).reverse()),
}


def stage_all(staging: Staging) -> None:
    for tag, (key, df) in FILES.items():
        staging.stage(tag, key, chunks(df, 700))


def test_windows_hold_every_row_once_in_consecutive_time_ranges(tmp_path):
    with Staging(tmp_path) as staging:
        stage_all(staging)
        assert staging.rows == 8400 and staging.bytes > 0
        windows = staging.windows(window_rows=1000)
        assert len(windows) > 8 and all(a.end <= b.start for a, b in zip(windows, windows[1:], strict=False))
        seen, tags_seen = [], set()
        for window, rows in zip(windows, staging.read_windows(windows), strict=True):
            frame, tags, quotes = rows.frame, rows.tags, rows.quotes
            assert rows.window == window
            assert frame.height == window.rows
            assert frame.height <= 1000 or window.end - window.start == 3600  # an hour never splits
            assert ((frame.get_column("time") >= window.start) & (frame.get_column("time") < window.end)).all()
            seen.append(frame.with_columns(pl.Series("quote", [quotes[c] for c in frame.get_column("quote_code")])))
            tags_seen.update(tags)
        got = pl.concat(seen).sort("asset_id", "interval_minutes", "time")
        want = pl.concat([df.with_columns(asset_id=pl.lit(k.asset_id, pl.Int32),
                                          interval_minutes=pl.lit(k.interval_minutes, pl.Int32),
                                          quote=pl.lit(k.quote_currency))
                          for k, df in FILES.values()]).sort("asset_id", "interval_minutes", "time")
        assert got.drop("quote_code").select(want.columns).equals(want)
        assert tags_seen == set(FILES)


def test_a_run_removes_what_a_killed_run_left_and_its_own_folder(tmp_path):
    root = tmp_path / ".data.staging"
    (root / "run-1-2").mkdir(parents=True)
    (root / "run-1-2" / "000000.arrow").write_bytes(b"x" * 100)
    with Staging(root) as staging:
        assert [p.name for p in root.iterdir()] == [staging.dir.name]
        stage_all(staging)
    assert not root.exists()


def test_a_file_failing_late_leaves_nothing_staged(tmp_path):
    class Malformed(Exception):
        pass

    def bad_chunks():
        yield series(0, 100, 60)
        raise Malformed("line 101")

    with Staging(tmp_path) as staging:
        with pytest.raises(Malformed):
            staging.stage("bad", SeriesKey(3, 1, "USD", "kraken"), bad_chunks())
        assert staging.files == [] and staging.rows == 0 and staging.windows() == []
        assert list(staging.dir.iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_send_stores_every_row_and_acknowledges_files_after_their_last_row(questdb, tmp_path):
    acknowledged = []
    with PriceWriter(flush_rows=1500) as writer, Staging(tmp_path) as staging:
        stage_all(staging)
        # Same series as "minute", overlapping it: staged later, so its values win.
        staging.stage("minute-fix", SeriesKey(2, 1, "EUR", "kraken"), [series(200 * DAY + 60 * 4000, 2000, 60, 5.0)])
        order = []
        sent = staging.send(writer, window_rows=1000, on_window=lambda w: order.append(writer.acknowledged()))
        assert sent == 10400 and staging.files == []
        writer.flush()
        acknowledged = [t for batch in order for t in batch] + writer.acknowledged()
    assert sorted(acknowledged) == sorted([*FILES, "minute-fix"])
    assert "daily" not in [t for batch in order[:-1] for t in batch]  # its last candle is the latest of all
    client.wait_for_wal("assetprice")
    assert client.query("SELECT count() FROM assetprice")[0][0] == 400 + 3000 + 5000 + 1000
    closes = dict(client.query("SELECT close, count() FROM assetprice WHERE asset_id = 2 GROUP BY close"))
    assert closes == {1.0: 4000, 5.0: 2000}


def test_a_full_staging_folder_is_disk_full_and_keeps_what_was_staged(tmp_path):
    from feefifofunds.diskfull import DiskFull
    from tests.support.disks import small_disk

    key, small = FILES["daily"]
    big = series(0, 40_000, 60)
    with small_disk(tmp_path / "staging", "512k") as root, Staging(root) as staging:
        staging.stage("daily", key, chunks(small, 100))
        before = sorted(staging.dir.iterdir())
        with pytest.raises(DiskFull) as raised:
            staging.stage("big", SeriesKey(3, 1, "USD", "kraken"), chunks(big, 5000))
        assert str(raised.value) == (f"the staging folder {root} (filesystem {root}, 512.0 KiB) is full: free space "
                                     "there and run again; nothing committed is lost")
        assert sorted(staging.dir.iterdir()) == before and [s.tag for s in staging.files] == ["daily"]
        assert staging.rows == small.height  # the file that filled the disk left nothing staged
