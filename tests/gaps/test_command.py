import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from feefifofunds.models import ConfirmedEmptyRange
from feefifofunds.store import client
from tests.gaps.conftest import NOW, make_asset, write_series

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
TODAY = datetime(2025, 1, 20, tzinfo=UTC)
CURRENT_HOUR = datetime(2025, 1, 20, 12, tzinfo=UTC)


class Terminal(StringIO):
    def isatty(self):
        return True


def run(*args, stdin=None) -> str:
    out = StringIO()
    call_command("backfill_kraken_gaps", *args, stdout=out, now=NOW, stdin=stdin)
    return out.getvalue()


def days(first: datetime, last: datetime) -> list[datetime]:
    return [first + i * DAY for i in range((last - first) // DAY + 1)]


def hours(first: datetime, last: datetime) -> list[datetime]:
    return [first + i * HOUR for i in range((last - first) // HOUR + 1)]


def rows(asset_id=None) -> int:
    where = f" WHERE asset_id = {asset_id}" if asset_id else ""
    return client.query(f"SELECT count() FROM assetprice{where}")[0][0]


@pytest.fixture
def market(questdb, fake_kraken):
    """BTC daily with a recent gap, SOL daily with an old one, ETH hourly with a recent and an old gap."""
    btc, eth, sol = make_asset("BTC"), make_asset("ETH"), make_asset("SOL")
    btc_missing = days(datetime(2024, 11, 1, tzinfo=UTC), datetime(2024, 11, 3, tzinfo=UTC))
    write_series(btc.pk, 1440, [d for d in days(datetime(2024, 10, 1, tzinfo=UTC), TODAY - DAY)
                                if d not in btc_missing])
    sol_missing = days(datetime(2022, 3, 1, tzinfo=UTC), datetime(2022, 3, 15, tzinfo=UTC))
    write_series(sol.pk, 1440, [d for d in days(datetime(2022, 2, 20, tzinfo=UTC), datetime(2022, 3, 25, tzinfo=UTC))
                                if d not in sol_missing])
    eth_missing = set(hours(datetime(2025, 1, 10, 8, tzinfo=UTC), datetime(2025, 1, 10, 13, tzinfo=UTC)))
    eth_old_missing = set(hours(datetime(2024, 10, 5, tzinfo=UTC), datetime(2024, 10, 10, 23, tzinfo=UTC)))
    write_series(eth.pk, 60, [h for h in hours(datetime(2024, 10, 1, tzinfo=UTC), CURRENT_HOUR - HOUR)
                              if h not in eth_missing | eth_old_missing])
    # Kraken has every candle of the recent window.
    fake_kraken.add_candles("XBTUSD", 1440, days(TODAY - 800 * DAY, TODAY))
    fake_kraken.add_candles("ETHUSD", 60, hours(CURRENT_HOUR - 800 * HOUR, CURRENT_HOUR))
    return {"BTC": btc, "ETH": eth, "SOL": sol}


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
        "    └─ 80 candles from today (limit: 720) ✓",
        "ETH (TIER1) - 60 min interval:",
        "  ✓ 2025-01-10 08:00 → 2025-01-10 13:00 (6 hours, 6 candles)",
        "    └─ 244 candles from today (limit: 720) ✓",
        "Summary: 2 fillable gaps, 9 total candles to fetch",
    ]
    expected_unfillable = [
        "❌ UNFILLABLE GAPS (beyond 720-candle limit)",
        "ETH (TIER1) - 60 min interval:",
        "  ✗ 2024-10-05 00:00 → 2024-10-10 23:00 (6 days, 144 candles)",
        "    └─ 2,580 candles from today (limit: 720) ✗",
        "    └─ TOO OLD by 1,860 candles (1,860 hours)",
        "    → ACTION: Download CSV from Kraken for 2024-10-05 00:00 to 2024-10-10 23:00",
        "SOL (TIER1) - 1440 min interval:",
        "  ✗ 2022-03-01 → 2022-03-15 (15 days, 15 candles)",
        "    └─ 1,056 candles from today (limit: 720) ✗",
        "    └─ TOO OLD by 336 candles (336 days)",
        "    → ACTION: Download CSV from Kraken for 2022-03-01 to 2022-03-15",
        "Summary: 2 unfillable gaps",
        "  → Requires CSV export or alternative data source",
        "  → Kraken CSV export: https://www.kraken.com/features/api#ohlc-data",
    ]
    content = [line for line in lines if line and not set(line) <= {"─", "═"}]
    for block in (expected_fillable, expected_unfillable):
        start = content.index(block[0])
        assert content[start:start + len(block)] == block
    assert content.index(expected_fillable[0]) < content.index(expected_unfillable[0])
    assert "Dry run: nothing was backfilled." in out and "Proceed" not in out
    assert fake_kraken.requests == [] and rows() == before and not ConfirmedEmptyRange.objects.exists()


def test_export_unfillable_byte_for_byte(market, tmp_path):
    path = tmp_path / "gaps.csv"
    out = run("--dry-run", "--export-unfillable", str(path))
    assert path.read_bytes() == (
        b"asset_ticker,tier,interval_minutes,gap_start,gap_end,missing_candles,candles_from_today,overflow_candles\n"
        b"ETH,TIER1,60,2024-10-05T00:00,2024-10-10T23:00,144,2580,1860\n"
        b"SOL,TIER1,1440,2022-03-01,2022-03-15,15,1056,336\n"
    )
    assert f"Exported 2 unfillable gaps to {path}" in out


def test_show_unfillable_only(market, fake_kraken):
    out = run("--show-unfillable-only")
    assert "API-FILLABLE" not in out and "UNFILLABLE GAPS" in out and "SOL (TIER1)" in out
    assert "BTC (TIER1)" not in out and "Proceed" not in out and fake_kraken.requests == []


def test_prompt_no_then_yes(market, fake_kraken):
    before = rows()
    out = run(stdin=Terminal("n\n"))
    assert "Proceed with backfilling 2 API-available gaps? [y/N]: " in out and "cancelled" in out
    assert rows() == before and fake_kraken.calls("OHLC") == []
    out = run(stdin=Terminal("y\n"))
    assert rows() == before + 9
    assert "FILLED BTC (TIER1) - 1440 min interval 2024-11-01 → 2024-11-03: 3 written" in out
    assert "FILLED ETH (TIER1) - 60 min interval 2025-01-10 08:00 → 2025-01-10 13:00: 6 written" in out


def test_refuses_to_prompt_without_a_terminal(market, fake_kraken):
    with pytest.raises(CommandError, match="no terminal to ask on. Pass --yes"):
        run(stdin=StringIO(""))
    assert fake_kraken.requests == []


def test_yes_fills_and_the_gap_disappears_from_the_next_report(market, fake_kraken):
    btc = market["BTC"]
    before = rows(btc.pk)
    out = run("--yes", "--asset", "BTC")
    assert "Proceed" not in out and "Summary: 1 filled" in out
    assert rows(btc.pk) == before + 3
    # API candles carry vwap; they are ordinary kraken rows.
    vwaps = client.query(f"SELECT vwap, source FROM assetprice WHERE asset_id = {btc.pk} "
                         "AND time IN '2024-11-01;3d'")
    assert vwaps == [(100.25, "kraken")] * 3
    # One AssetPairs and one OHLC request, since just before the gap.
    assert fake_kraken.calls("OHLC") == [{"pair": "XBTUSD", "interval": "1440",
                                          "since": str(int(datetime(2024, 11, 1, tzinfo=UTC).timestamp()) - 1)}]
    again = run("--dry-run", "--asset", "BTC")
    assert "2024-11-01" not in again and "Summary: 0 fillable gaps, 0 total candles to fetch" in again
    # Re-filling the same range does not duplicate (DEDUP with the archive rows).
    run("--yes", "--asset", "BTC")
    assert rows(btc.pk) == before + 3


def test_confirmed_empty_intervals_are_remembered(questdb, fake_kraken):
    doge = make_asset("DOGE")
    missing = hours(CURRENT_HOUR - 30 * HOUR, CURRENT_HOUR - 21 * HOUR)  # 10 hours missing
    write_series(doge.pk, 60, [h for h in hours(CURRENT_HOUR - 48 * HOUR, CURRENT_HOUR - HOUR) if h not in missing])
    traded = missing[:2] + missing[5:6]  # Kraken has 3 of them; nobody traded in the other 7
    fake_kraken.add_candles("XDGUSD", 60, traded)
    out = run("--yes")
    assert "FILLED DOGE (TIER1) - 60 min interval" in out and "3 written, 7 confirmed empty" in out
    ranges = list(ConfirmedEmptyRange.objects.values_list("start", "end"))
    assert ranges == [(missing[2], missing[4]), (missing[6], missing[9])]
    again = run("--yes")
    assert "Nothing to backfill." in again and "Summary: 0 fillable gaps" in again
    assert "CONFIRMED EMPTY" in again and "Summary: 2 confirmed-empty ranges, 7 candles (not reported as gaps)" in again
    assert len(fake_kraken.calls("OHLC")) == 1


def test_everything_confirmed_empty(questdb, fake_kraken):
    doge = make_asset("DOGE")
    write_series(doge.pk, 1440, [TODAY - 10 * DAY, TODAY - 5 * DAY])
    out = run("--yes")
    assert ("CONFIRMED EMPTY DOGE (TIER1) - 1440 min interval 2025-01-11 → 2025-01-14: "
            "0 written, 4 confirmed empty") in out
    assert "Nothing to backfill." in run("--yes")


def test_gap_at_the_720_boundary_is_partly_filled(questdb, fake_kraken):
    # The first missing candle is exactly 720 candles back: fillable by the reference's arithmetic, but the API's
    # window (720 candles including the unfinished one) starts one candle later.
    btc = make_asset("BTC")
    first = CURRENT_HOUR - 720 * HOUR
    write_series(btc.pk, 60, [first - HOUR, first + 3 * HOUR])
    fake_kraken.add_candles("XBTUSD", 60, hours(CURRENT_HOUR - 800 * HOUR, CURRENT_HOUR))
    out = run("--yes")
    assert "    └─ 720 candles from today (limit: 720) ✓" in out
    assert "PARTLY FILLED BTC (TIER1) - 60 min interval" in out and "2 written, 1 still missing" in out


def test_retry_then_success(market, fake_kraken):
    fake_kraken.script("OHLC", "EAPI:Rate limit exceeded", 502, "EService:Unavailable")
    out = run("--yes", "--asset", "ETH", "--interval", "60")
    assert "Summary: 1 filled" in out
    assert len(fake_kraken.calls("OHLC")) == 4


def test_unknown_pair_fails_its_gap_and_the_run_goes_on(market, fake_kraken):
    nope = make_asset("NOPE", tier="TIER4")
    write_series(nope.pk, 1440, [TODAY - 10 * DAY, TODAY - 5 * DAY])
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 3 gaps failed"):
        call_command("backfill_kraken_gaps", "--yes", stdout=out, now=NOW)
    text = out.getvalue()
    assert "Failed gaps (1):" in text
    assert "✗ NOPE (TIER4) - 1440 min interval 2025-01-11 → 2025-01-14: EQuery:Unknown asset pair" in text
    assert "Summary: 2 filled, 1 failed" in text
    assert not ConfirmedEmptyRange.objects.filter(asset=nope).exists()


def test_720_minute_interval_is_reported_unfillable(questdb, fake_kraken):
    btc = make_asset("BTC")
    twelve = timedelta(hours=12)
    write_series(btc.pk, 720, [CURRENT_HOUR - 10 * twelve, CURRENT_HOUR - 6 * twelve])
    out = run("--yes")
    assert "  ✗ 2025-01-16 00:00 → 2025-01-17 00:00 (36 hours, 3 candles)" in out
    assert "    └─ 720-minute candles are not offered by Kraken's REST API (archive only) ✗" in out
    assert "  → 1 gap on intervals the REST API does not offer (720 min: archive only)" in out
    assert "Nothing to backfill." in out and fake_kraken.requests == []


def test_filters(market, fake_kraken):
    ada = make_asset("ADA", tier="")  # tier from the tier lists: TIER1
    link = make_asset("LINK", tier="TIER2")
    bat = make_asset("BAT", tier="TIER3")
    for asset in (ada, link, bat):
        write_series(asset.pk, 1440, [TODAY - 10 * DAY, TODAY - 8 * DAY])
        write_series(asset.pk, 60, [CURRENT_HOUR - 10 * HOUR, CURRENT_HOUR - 8 * HOUR])

    def titles(*args):
        out = run("--dry-run", *args)
        return sorted({line.split(":")[0] for line in out.splitlines() if " min interval" in line
                       and not line.startswith(" ")})

    assert titles("--tier", "TIER2", "--tier", "TIER3") == [
        "BAT (TIER3) - 1440 min interval", "BAT (TIER3) - 60 min interval",
        "LINK (TIER2) - 1440 min interval", "LINK (TIER2) - 60 min interval"]
    assert titles("--tier", "tier3", "--interval", "60") == ["BAT (TIER3) - 60 min interval"]
    assert titles("--asset", "ada") == ["ADA (TIER1) - 1440 min interval", "ADA (TIER1) - 60 min interval"]
    assert len(titles("--tier", "TIER1")) == 5 and len(titles("--tier", "ALL")) == 9
    assert titles("--tier", "TIER4") == []
    assert "Scanning 0 assets" in run("--dry-run", "--tier", "TIER4")
    with pytest.raises(CommandError, match="no asset with ticker 'XYZ'"):
        run("--asset", "XYZ")
    with pytest.raises(CommandError, match="invalid choice"):
        run("--tier", "TIER9")


def test_large_reports_stay_short(questdb):
    btc = make_asset("BTC")
    write_series(btc.pk, 60, hours(CURRENT_HOUR - 100 * HOUR, CURRENT_HOUR - HOUR)[::2])  # 49 one-hour gaps
    out = run("--dry-run")
    assert "BTC (TIER1) - 60 min interval: 49 gaps, 49 candles" in out
    assert out.count("  ✓ ") == 5 and "  … and 44 more gaps (44 candles)" in out


@pytest.mark.django_db(transaction=True)
def test_real_process_without_terminal_refuses_instead_of_hanging(questdb, command_env):
    btc = make_asset("BTC")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    write_series(btc.pk, 1440, [today - 10 * DAY, today - 5 * DAY])
    proc = subprocess.run([sys.executable, "manage.py", "backfill_kraken_gaps", "--asset", "BTC"], env=command_env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "no terminal to ask on" in proc.stderr and "Traceback" not in proc.stderr
    assert "API-FILLABLE GAPS" in proc.stdout
    dry = subprocess.run([sys.executable, "manage.py", "backfill_kraken_gaps", "--dry-run"], env=command_env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr


def test_verbosity_0_and_no_input(market, fake_kraken):
    out = StringIO()
    call_command("backfill_kraken_gaps", "--no-input", "--asset", "BTC", "--verbosity", "0", stdout=out, now=NOW)
    assert out.getvalue() == ("1 gaps (1 API-fillable, 0 unfillable), 0 confirmed-empty ranges; "
                              "backfill: 1 filled\n")
    out = StringIO()
    call_command("backfill_kraken_gaps", "--noinput", "--asset", "BTC", "--verbosity", "0", stdout=out, now=NOW)
    assert out.getvalue() == ("0 gaps (0 API-fillable, 0 unfillable), 0 confirmed-empty ranges; "
                              "backfill: nothing to do\n")
