"""gaps.report as backfill_kraken_gaps prints it, on real QuestDB and a fake Kraken: the report's layout and
sections, the CSV of unfillable gaps, long reports kept short."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feefifofunds.models import ConfirmedEmptyRange
from tests.support import kraken_gaps
from tests.support.kraken_gaps import CURRENT_HOUR, HOUR, hours, make_asset, rows, run, write_series

fake_kraken, market = kraken_gaps.fake_kraken, kraken_gaps.market  # fixtures
pytestmark = pytest.mark.django_db


def test_report_layout_and_dry_run_writes_nothing(market, fake_kraken):
    before = rows()
    out = run("--dry-run")
    lines = out.splitlines()
    assert lines[:5] == ["═" * 59, "Kraken Gap Detection Report", "═" * 59, "",
                         "Scanning 3 assets (3 series) for gaps..."]
    expected_fillable = [
        "📊 API-FILLABLE GAPS (within 720-candle limit)",
        "BTC (TIER1) - 1440 min interval:",
        "  ✓ 2024-11-01 → 2024-11-03 (3 days, 3 candles)",
        "    └─ 81 candles from today (limit: 720) ✓",
        "ETH (TIER1) - 60 min interval:",
        "  ✓ 2025-01-10 08:00 → 2025-01-10 13:00 (6 hours, 6 candles)",
        "    └─ 245 candles from today (limit: 720) ✓",
        "Summary: 2 fillable gaps, 9 total candles to fetch",
    ]
    expected_trades = [
        "🔁 TRADES-FILLABLE GAPS (beyond the OHLC window: candles rebuilt from Kraken's trade history)",
        "ETH (TIER1) - 60 min interval:",
        "  ✓ 2024-10-05 00:00 → 2024-10-10 23:00 (6 days, 144 candles)",
        "    └─ 2,581 candles from today: from trades ✓",
        "SOL (TIER1) - 1440 min interval:",
        "  ✓ 2022-03-01 → 2022-03-15 (15 days, 15 candles)",
        "    └─ 1,057 candles from today: from trades ✓",
        "Summary: 2 gaps in 2 walks over trades, about 4 requests",
    ]
    expected_trailing = [
        "⏩ TRAILING GAPS (after the last stored candle, up to the last finished one)",
        "SOL (TIER1) - 1440 min interval:",
        "  → 2022-03-26 → 2025-01-19 (1,031 days, 1,031 candles)",
        "    └─ from trades ✓",
        "Summary: 1 trailing gap, 1,031 candles to bring the store up to date",
    ]
    expected_unfillable = ["❌ UNFILLABLE GAPS (not filled by this run)", "No unfillable gaps.",
                           "Summary: 0 unfillable gaps"]
    expected_plan = [
        "PLAN",
        "  OHLC:   2 gaps, 2 requests",
        "  Trades: 3 gaps in 3 walks, about 7 requests",
    ]
    content = [line for line in lines if line and not set(line) <= {"─", "═"}]
    starts = []
    for block in (expected_fillable, expected_trades, expected_trailing, expected_unfillable, expected_plan):
        start = content.index(block[0])
        assert content[start:start + len(block)] == block
        starts.append(start)
    assert starts == sorted(starts)
    assert "Dry run: nothing was backfilled." in out and "Proceed" not in out
    # A report reads only: Kraken's pair list (to tell delisted pairs apart), nothing written.
    assert [r.path for r in fake_kraken.requests] == ["/0/public/AssetPairs"]
    assert rows() == before and not ConfirmedEmptyRange.objects.exists()


def test_export_with_ohlc_only_and_quote_filter(market, tmp_path, fake_kraken):
    eur = make_asset("XRP", quote="EUR")
    write_series(eur.pk, 1440, [datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 1, 5, tzinfo=UTC)], quote="EUR")
    path = tmp_path / "eur.csv"
    out = run("--dry-run", "--method", "ohlc", "--quote", "eur", "--export-unfillable", str(path))
    assert path.read_text().splitlines()[1:] == [
        "XRP,TIER1,1440,2022-01-02,2022-01-04,3,1115,395,EUR",  # bare ticker, quote at the end
        "XRP,TIER1,1440,2022-01-06,2025-01-19,1110,1111,391,EUR",
    ]
    assert "BTC" not in out and "TOO OLD by 395 candles (395 days) for OHLC: use --method auto or trades" in out


def test_large_reports_stay_short(questdb):
    btc = make_asset("BTC")
    write_series(btc.pk, 60, hours(CURRENT_HOUR - 100 * HOUR, CURRENT_HOUR - HOUR)[::2])  # 49 one-hour gaps
    out = run("--dry-run")
    assert "BTC (TIER1) - 60 min interval: 49 gaps, 49 candles" in out
    assert out.count("  ✓ ") == 5 and "  … and 44 more gaps (44 candles)" in out
