"""backfill_kraken_gaps against the real QuestDB and a fake Kraken: the prompt, OHLC fills, the confirmed-empty
memory, the OHLC window's edge, retries and failures, filters and the exit paths. What it prints and plans is
tested in tests/gaps/test_report.py and tests/gaps/test_plan.py."""

import subprocess
import sys
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from feefifofunds.models import ConfirmedEmptyRange
from feefifofunds.store import client
from tests.support import kraken_gaps
from tests.support.kept import assert_kept_matches_scan
from tests.support.kraken_gaps import CURRENT_HOUR, DAY, HOUR, NOW, TODAY, hours, make_asset, rows, run, write_series

fake_kraken, market = kraken_gaps.fake_kraken, kraken_gaps.market  # fixtures
pytestmark = pytest.mark.django_db


class Terminal(StringIO):
    def isatty(self):
        return True


def test_prompt_no_then_yes(market, fake_kraken):
    before = rows()
    out = run(stdin=Terminal("n\n"))
    assert "Proceed with backfilling 5 gaps? [y/N]: " in out and "cancelled" in out
    assert rows() == before and fake_kraken.calls("OHLC") == [] and fake_kraken.calls("Trades") == []
    out = run(stdin=Terminal("y\n"))
    assert rows() == before + 9
    assert "FILLED BTC (TIER1) - 1440 min interval 2024-11-01 → 2024-11-03: 3 written" in out
    assert "FILLED ETH (TIER1) - 60 min interval 2025-01-10 08:00 → 2025-01-10 13:00: 6 written" in out
    # Nobody traded in the old gaps in this fake: the walks prove them empty.
    assert "FILLED SOL (TIER1) 2022-03-01 → 2022-03-16 (1440 min): 0 written, 15 confirmed empty, 1 request" in out


def test_refuses_to_prompt_without_a_terminal(market, fake_kraken):
    with pytest.raises(CommandError, match="no terminal to ask on. Pass --yes"):
        run(stdin=StringIO(""))
    assert fake_kraken.calls("OHLC") == [] and fake_kraken.calls("Trades") == []


def test_yes_fills_and_the_gap_disappears_from_the_next_report(market, fake_kraken):
    btc = market["BTC"]
    before = rows(btc.pk)
    out = run("--yes", "--asset", "BTC")
    assert "Proceed" not in out and "Summary: 1 filled" in out
    assert rows(btc.pk) == before + 3
    assert_kept_matches_scan()  # an OHLC fill keeps its spans
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
    _, runs = assert_kept_matches_scan()  # the confirmed-empty memory splits the kept gaps
    assert [r[3:] for r in runs] == [(3, True), (4, True)]
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


@pytest.mark.parametrize(("distance", "fillable"), [(718, True), (719, True), (720, False)])
def test_720_boundary_counts_the_unfinished_candle(questdb, fake_kraken, distance, fillable):
    """An OHLC answer holds the current candle and the 719 finished ones before it: a gap whose first candle is
    719 hours back is filled whole, one 720 hours back is not in the window at all."""
    btc = make_asset("BTC")
    first = CURRENT_HOUR - distance * HOUR
    write_series(btc.pk, 60, [first - HOUR, *hours(first + 3 * HOUR, CURRENT_HOUR - HOUR)])
    fake_kraken.add_candles("XBTUSD", 60, hours(CURRENT_HOUR - 800 * HOUR, CURRENT_HOUR))
    out = run("--yes", "--method", "ohlc")
    if fillable:
        assert f"    └─ {distance + 1} candles from today (limit: 720) ✓" in out
        assert "Summary: 1 filled" in out and "PARTLY FILLED" not in out
    else:
        assert "    └─ 721 candles from today (limit: 720) ✗" in out and "TOO OLD by 1 candle" in out
        assert fake_kraken.calls("OHLC") == []
        auto = run("--dry-run")  # the default method takes it from trades
        assert "    └─ 721 candles from today: from trades ✓" in auto


def test_retry_then_success(market, fake_kraken):
    fake_kraken.script("OHLC", "EAPI:Rate limit exceeded", 502, "EService:Unavailable")
    out = run("--yes", "--asset", "ETH", "--interval", "60")
    assert "Summary: 1 filled" in out
    assert len(fake_kraken.calls("OHLC")) == 4


def test_unknown_pair_fails_its_gap_and_the_run_goes_on(market, fake_kraken):
    nope = make_asset("NOPE", tier="TIER4")
    write_series(nope.pk, 1440, [TODAY - 10 * DAY, TODAY - 5 * DAY])
    out = StringIO()
    with pytest.raises(CommandError, match="2 of 7 gap fills failed"):
        call_command("backfill_kraken_gaps", "--yes", stdout=out, now=NOW)
    text = out.getvalue()
    assert "Failed gaps (2):" in text
    assert "✗ NOPE (TIER4) - 1440 min interval 2025-01-11 → 2025-01-14: EQuery:Unknown asset pair" in text
    assert "✗ NOPE (TIER4) - 1440 min interval 2025-01-16 → 2025-01-19: EQuery:Unknown asset pair" in text
    assert "Summary: 2 filled, 2 failed" in text
    assert "FILLED SOL (TIER1) 2022-03-26 → 2025-01-20 (1440 min)" in text  # the other walks went on
    assert not ConfirmedEmptyRange.objects.filter(asset=nope).exists()


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


@pytest.mark.django_db(transaction=True)
def test_real_process_without_terminal_refuses_instead_of_hanging(questdb, command_env, fake_kraken):
    command_env = command_env | {"KRAKEN_API_URL": fake_kraken.url, "KRAKEN_API_RATE_PER_SECOND": "0"}
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
    assert out.getvalue() == ("1 gaps (1 via OHLC, 0 via trades, 0 unfillable; 0 trailing), 0 confirmed-empty "
                              "ranges; backfill: 1 filled\n")
    out = StringIO()
    call_command("backfill_kraken_gaps", "--noinput", "--asset", "BTC", "--verbosity", "0", stdout=out, now=NOW)
    assert out.getvalue() == ("0 gaps (0 via OHLC, 0 via trades, 0 unfillable; 0 trailing), 0 confirmed-empty "
                              "ranges; backfill: nothing to do\n")
