"""The archive's shape at any size: valid Kraken files, 8 intervals a pair, listing dates spread, gaps in runs
(many more for illiquid pairs), updates over their own span, and the same bytes however it is written."""

from pathlib import Path

import numpy as np

from feefifofunds.samples import shape
from feefifofunds.sources.kraken_archive import discover, read_file, split_pair

END = 1_767_225_600  # 2026-01-01, a day boundary
DAY = shape.DAY


def files_by_series(folder: Path) -> dict[tuple[str, int], object]:
    found = discover(folder)
    assert not found.skipped
    return {(f.pair, f.interval_minutes): read_file(f.path, f.interval_minutes) for f in found.files}


def runs(times: np.ndarray, interval: int) -> int:
    return int(np.count_nonzero(np.diff(times) > interval * 60))


def test_pairs_are_named_as_kraken_names_them_and_a_larger_set_holds_the_smaller():
    pairs = shape.make_pairs(9)
    assert shape.make_pairs(4) == pairs[:4]
    assert [p.name for p in pairs[:3]] == ["SC0000USD", "SC0000EUR", "SC0001USD"]
    assert all(split_pair(p.name) == (p.base, p.quote) for p in pairs)
    assert len({p.seed for p in pairs}) == 9


def test_archive_files_are_valid_with_depth_by_interval_listing_and_gaps_in_runs(tmp_path: Path):
    pairs = shape.make_pairs(12)
    scale = 0.05  # 4.5 days of 1-minute candles up to 146 days of daily ones
    written = shape.write_archive(tmp_path, pairs, END, scale=scale, workers=1)
    series = files_by_series(tmp_path)
    assert written.files == len(series) == 12 * 8
    assert written.rows == sum(df.height for df in series.values())
    assert written.bytes == sum(f.stat().st_size for f in tmp_path.glob("*.csv"))
    # Within a few percent of what the disk estimate expects.
    expected = shape.expected_rows(pairs, lambda p, i: (shape.archive_start(p, i, END, scale), END))
    assert abs(written.rows - expected) / expected < 0.05

    for pair in pairs:
        for interval in shape.INTERVALS:
            times = series[pair.name, interval]["time"].to_numpy()
            assert times.max() == END - interval * 60  # the last candle ends at the archive's end
            depth = min(shape.DEPTH_DAYS[interval] * scale, pair.listed_days)
            assert times.min() == -(-(END - int(depth * DAY)) // (interval * 60)) * interval * 60
    # Coarse intervals reach further back than fine ones.
    old = max(pairs, key=lambda p: p.listed_days)
    assert series[old.name, 1440]["time"].min() < series[old.name, 60]["time"].min() < series[old.name, 1]["time"].min()

    liquid = min(pairs, key=lambda p: p.missing_1m)
    illiquid = max(pairs, key=lambda p: p.missing_1m)
    assert illiquid.missing_1m > 0.5 > 0.05 > liquid.missing_1m

    def missing_share(pair: shape.Pair, interval: int) -> float:
        times = series[pair.name, interval]["time"].to_numpy()
        return 1 - len(times) / ((times.max() - times.min()) // (interval * 60) + 1)

    assert missing_share(illiquid, 1) > 0.4 and missing_share(liquid, 1) < 0.05
    assert missing_share(illiquid, 1) > missing_share(illiquid, 60) > missing_share(illiquid, 1440)
    one_minute = series[illiquid.name, 1]["time"].to_numpy()
    missing = (one_minute.max() - one_minute.min()) // 60 + 1 - len(one_minute)
    assert 0 < runs(one_minute, 1) < missing / 20, "quiet spells last many minutes, not one"


def test_updates_cover_their_own_span_with_the_pairs_liquidity(tmp_path: Path):
    pairs = shape.make_pairs(3)
    day = shape.write_update(tmp_path / "day", pairs, END, END + DAY, part=1, workers=1)
    series = files_by_series(tmp_path / "day")
    assert day.files == len(series) == 3 * 8
    for (_, interval), df in series.items():
        times = df["time"].to_numpy()
        assert times.min() == END and times.max() == END + DAY - interval * 60
    assert series[pairs[0].name, 1440].height == 1
    quarter = shape.write_update(tmp_path / "quarter", pairs, END - 3 * DAY, END + 90 * DAY, part=2, workers=1)
    assert quarter.rows > 30 * day.rows


def test_the_same_bytes_from_one_process_or_several(tmp_path: Path):
    pairs = shape.make_pairs(4)
    spans = lambda p, i: (END - 2 * DAY, END)  # noqa: E731
    one = shape.write_files(tmp_path / "one", pairs, spans, part=0, workers=1)
    two = shape.write_files(tmp_path / "two", pairs, spans, part=0, workers=2, parallel_rows=0)
    assert one == two
    for f in (tmp_path / "one").iterdir():
        assert f.read_bytes() == (tmp_path / "two" / f.name).read_bytes()


def test_quiet_spells_take_their_share_and_keep_both_ends():
    rng = np.random.default_rng(5)
    keep = shape.quiet_spells(rng, 200_000, 0.6, 50.0)
    assert keep[0] and keep[-1]
    assert abs((1 - keep.mean()) - 0.6) < 0.05
    spells = int(np.count_nonzero(keep[:-1] & ~keep[1:]))
    assert abs((~keep).sum() / spells - 50) < 5
    assert shape.quiet_spells(rng, 1000, 0.0, 50.0).all()
    assert shape.quiet_spells(rng, 2, 0.9, 5.0).all()
