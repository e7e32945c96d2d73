"""gaps.plan as backfill_kraken_gaps runs it, on real QuestDB and a fake Kraken: which way each gap is filled
(OHLC or trades, by the method asked for) and what a run's budget leaves for a later run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support import kraken_gaps
from tests.support.kraken_gaps import CURRENT_HOUR, make_asset, run, write_series

fake_kraken, market = kraken_gaps.fake_kraken, kraken_gaps.market  # fixtures
pytestmark = pytest.mark.django_db


def test_export_unfillable_byte_for_byte(market, tmp_path):
    path = tmp_path / "gaps.csv"
    # A budget of 3 requests: the pair list and the two OHLC answers; every walk over trades is left over.
    out = run("--dry-run", "--max-requests", "3", "--export-unfillable", str(path))
    assert path.read_bytes() == (
        b"asset_ticker,tier,interval_minutes,gap_start,gap_end,missing_candles,candles_from_today,overflow_candles,"
        b"quote_currency\n"
        b"ETH,TIER1,60,2024-10-05T00:00,2024-10-10T23:00,144,2581,1861,USD\n"
        b"SOL,TIER1,1440,2022-03-01,2022-03-15,15,1057,337,USD\n"
        b"SOL,TIER1,1440,2022-03-26,2025-01-19,1031,1032,312,USD\n"
    )
    assert f"Exported 3 unfillable gaps to {path}" in out
    assert "Left for a later run (over budget): 3 gaps" in out


def test_show_unfillable_only(market, fake_kraken):
    out = run("--show-unfillable-only", "--max-requests", "3")
    assert "API-FILLABLE" not in out and "TRADES-FILLABLE" not in out and "UNFILLABLE GAPS" in out
    assert "SOL (TIER1) - 1440 min interval: 2 gaps, 1,046 candles" in out
    assert "over this run's budget (--max-requests / --max-minutes): a later run picks it up" in out
    assert "BTC (TIER1)" not in out and "Proceed" not in out
    assert fake_kraken.calls("OHLC") == [] and fake_kraken.calls("Trades") == []
    assert "No unfillable gaps." in run("--show-unfillable-only")


def test_720_minute_interval_is_filled_from_trades(questdb, fake_kraken):
    btc = make_asset("BTC")
    twelve = timedelta(hours=12)
    write_series(btc.pk, 720, [CURRENT_HOUR - 10 * twelve, CURRENT_HOUR - 6 * twelve, CURRENT_HOUR - twelve])
    out = run("--dry-run", "--method", "ohlc")
    assert "  ✗ 2025-01-16 00:00 → 2025-01-17 00:00 (36 hours, 3 candles)" in out
    assert ("    └─ 720-minute candles are not offered by Kraken's OHLC endpoint (use --method auto or trades) ✗"
            in out)
    out = run("--dry-run")
    assert "    └─ 10 candles from today: from trades ✓" in out
    out = run("--yes")
    assert "0 written, 3 confirmed empty" in out and fake_kraken.calls("OHLC") == []
