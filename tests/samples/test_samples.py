from pathlib import Path

from feefifofunds.samples import Spec, build_demo_archive, generate
from feefifofunds.sources.kraken_archive import discover, read_file


def test_generated_archive_is_valid_kraken_format_with_no_trade_gaps(tmp_path: Path):
    files, rows = generate(tmp_path, bases=("XBT", "PEPE"), quotes=("USD", "EUR"),
                           specs=(Spec(5, 3), Spec(1440, 60)), end=1_700_006_400, seed=1)
    found = discover(tmp_path)
    assert files == 8 and len(found.files) == 8 and not found.skipped
    total = 0
    missing = {}
    for f in found.files:
        df = read_file(f.path, f.interval_minutes)  # validates alignment, high >= low, no negatives
        total += df.height
        slots = (df["time"].max() - df["time"].min()) // (f.interval_minutes * 60) + 1
        missing[f.pair, f.interval_minutes] = slots - df.height
        assert df["time"].max() < 1_700_006_400
    assert total == rows
    assert missing["PEPEUSD", 5] > 0 and missing["PEPEEUR", 5] > 0, "illiquid pairs miss some intervals"
    assert generate(tmp_path / "again", bases=("XBT", "PEPE"), quotes=("USD", "EUR"),
                    specs=(Spec(5, 3), Spec(1440, 60)), end=1_700_006_400, seed=1) == (files, rows)


def test_demo_archive_has_real_excerpts_and_generated_pairs(tmp_path: Path):
    files, rows = build_demo_archive(tmp_path)
    found = discover(tmp_path)
    assert len(found.files) == files and not found.skipped
    assert {f.pair for f in found.files} >= {"XBTUSD", "ETHUSD", "ADAUSD", "XMRUSD", "XBTEUR", "XDGUSD"}
    assert {f.interval_minutes for f in found.files} == {60, 240, 1440}
    assert sum(read_file(f.path, f.interval_minutes).height for f in found.files) == rows
