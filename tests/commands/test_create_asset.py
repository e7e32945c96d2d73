import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from feefifofunds.models import Asset

pytestmark = pytest.mark.django_db


def test_creates_asset():
    out = StringIO()
    call_command("create_asset", "--ticker", "btc", "--name", "Bitcoin", "--category", "CRYPTO", stdout=out)
    asset = Asset.objects.get(ticker="BTC")
    assert (asset.name, asset.category, asset.quote_currency, asset.active, asset.tier) == (
        "Bitcoin", "CRYPTO", "USD", True, "")
    assert "Created asset BTC" in out.getvalue()


def test_quote_currency_and_description():
    call_command("create_asset", "--ticker", "GLD", "--name", "SPDR Gold Trust", "--category", "COMMODITY",
                 "--quote-currency", "eur", "--description", "Gold ETF", stdout=StringIO())
    asset = Asset.objects.get(ticker="GLD")
    assert asset.quote_currency == "EUR" and asset.description == "Gold ETF"


def test_duplicate_ticker_changes_nothing():
    call_command("create_asset", "--ticker", "AAPL", "--name", "Apple Inc.", "--category", "STOCK",
                 stdout=StringIO())
    with pytest.raises(CommandError, match="AAPL already exists"):
        call_command("create_asset", "--ticker", "aapl", "--name", "Other", "--category", "CRYPTO",
                     stdout=StringIO())
    assert list(Asset.objects.values_list("ticker", "name", "category")) == [("AAPL", "Apple Inc.", "STOCK")]


def test_invalid_ticker_characters():
    with pytest.raises(CommandError, match="ticker"):
        call_command("create_asset", "--ticker", "BAD TICKER!", "--name", "x", "--category", "STOCK",
                     stdout=StringIO())
    assert not Asset.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_exit_codes_in_a_real_process(command_env):
    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", "create_asset", *args], env=command_env,
                              capture_output=True, text=True, timeout=60)

    ok = manage("--ticker", "ETH", "--name", "Ethereum", "--category", "CRYPTO")
    assert ok.returncode == 0, ok.stderr
    dup = manage("--ticker", "ETH", "--name", "Ethereum", "--category", "CRYPTO")
    assert dup.returncode == 1 and "already exists" in dup.stderr and "Traceback" not in dup.stderr
    bad = manage("--ticker", "X", "--name", "x", "--category", "BOND")
    assert bad.returncode == 2 and "invalid choice: 'BOND'" in bad.stderr
    assert Asset.objects.filter(ticker="ETH").count() == 1 and not Asset.objects.filter(ticker="X").exists()


@pytest.mark.parametrize("category, calendar", [("CRYPTO", "24/7"), ("STOCK", "XNYS"), ("COMMODITY", "XNYS"),
                                                ("CURRENCY", "24/5")])
def test_calendar_default_by_category(category, calendar):
    out = StringIO()
    call_command("create_asset", "--ticker", "X1", "--name", "x", "--category", category, stdout=out)
    assert Asset.objects.get(ticker="X1").calendar == calendar and f"Calendar:       {calendar}" in out.getvalue()


def test_exchange_option():
    call_command("create_asset", "--ticker", "VOD", "--name", "Vodafone", "--category", "STOCK",
                 "--exchange", "xlon", stdout=StringIO())
    assert Asset.objects.get(ticker="VOD").calendar == "XLON"


def test_unknown_exchange_names_the_valid_ones():
    with pytest.raises(CommandError, match=r"unknown exchange 'XXXX': use one of 24/7, 24/5, .*XLON.*XNYS"):
        call_command("create_asset", "--ticker", "AAPL", "--name", "Apple", "--category", "STOCK",
                     "--exchange", "XXXX", stdout=StringIO())
    assert not Asset.objects.exists()
