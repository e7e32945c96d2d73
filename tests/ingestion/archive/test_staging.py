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


def stage_all(staging: Staging, *, together: bool = False) -> None:
    """Every file of ``FILES``, each alone or all as one group (``Staging.stage_together``)."""
    if together:
        frame = pl.concat([df.with_columns(pl.lit(i, pl.Int32).alias("segment"))
                           for i, (_, df) in enumerate(FILES.values())])
        staging.stage_together(list(FILES), [key for key, _ in FILES.values()], frame,
                               [df.get_column("time").max() for _, df in FILES.values()])
        return
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
@pytest.mark.parametrize("together", [False, True], ids=["alone", "together"])
def test_send_stores_every_row_and_acknowledges_files_after_their_last_row(questdb, tmp_path, together):
    acknowledged = []
    with PriceWriter(flush_rows=1500) as writer, Staging(tmp_path) as staging:
        stage_all(staging, together=together)
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


def window_rows(staging: Staging, window_rows: int) -> tuple[pl.DataFrame, list[set]]:
    """Every staged row as the windows give them (each row's quote spelled out), and each window's files."""
    frames, tags = [], []
    for rows in staging.read_windows(staging.windows(window_rows)):
        quote = pl.Series("quote", [rows.quotes[c] for c in rows.frame.get_column("quote_code")])
        frames.append(rows.frame.drop("quote_code").with_columns(quote))
        tags.append(set(rows.tags))
    return pl.concat(frames).sort("asset_id", "interval_minutes", "quote", "time"), tags


def test_files_staged_together_read_back_as_if_staged_alone(tmp_path):
    """One scratch file for many small files; its keys may be set after staging (assets created later)."""
    ordered = {tag: (key, df) for tag, (key, df) in FILES.items() if tag != "hourly"}  # archive files: in order
    with Staging(tmp_path / "alone") as alone, Staging(tmp_path / "together") as together:
        for tag, (key, df) in ordered.items():
            alone.stage(tag, key, [df])
        alone.stage("extra", SeriesKey(4, 60, "GBP", "kraken"), [series(100 * DAY, 50, 3600)])
        frame = pl.concat([df.with_columns(pl.lit(i, pl.Int32).alias("segment"))
                           for i, (_, df) in enumerate(ordered.values())])
        group = together.stage_together(list(ordered), [SeriesKey(0, 1, "USD", "kraken")] * 2, frame,
                                        [df.item(df.height - 1, "time") for _, df in ordered.values()])
        group.keys = [key for key, _ in ordered.values()]
        together.stage("extra", SeriesKey(4, 60, "GBP", "kraken"), [series(100 * DAY, 50, 3600)])
        assert together.rows == alone.rows == 5450 and len(together.files) == 2
        want, _ = window_rows(alone, 1000)
        got, tags = window_rows(together, 1000)
        assert got.equals(want)
        assert set().union(*tags) == {"daily", "minute", "extra"} and any(len(t) > 1 for t in tags)
        assert dict(group.ends()) == {"daily": 399 * DAY, "minute": 200 * DAY + 4999 * 60}


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


def test_a_group_that_does_not_fit_in_the_staging_folder_is_disk_full_and_leaves_nothing(tmp_path):
    from feefifofunds.diskfull import DiskFull
    from tests.support.disks import small_disk

    big = series(0, 40_000, 60)
    frame = pl.concat([big.with_columns(pl.lit(i, pl.Int32).alias("segment")) for i in range(2)])
    keys = [SeriesKey(3, 1, "USD", "kraken"), SeriesKey(4, 1, "USD", "kraken")]
    with small_disk(tmp_path / "staging", "512k") as root, Staging(root) as staging:
        with pytest.raises(DiskFull, match="the staging folder .* is full"):
            staging.stage_together(["a", "b"], keys, frame, [big.item(big.height - 1, "time")] * 2)
        assert list(staging.dir.iterdir()) == [] and staging.files == [] and staging.rows == 0
