from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from feefifofunds.models import Asset

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("set_calendar", *args, stdout=out)
    return out.getvalue()


def test_changes_the_calendar_of_an_asset():
    Asset.objects.create(ticker="GLD", name="SPDR Gold", category="COMMODITY")
    assert "GLD: calendar XNYS -> XNAS" in run("--ticker", "gld", "--exchange", "xnas")
    assert Asset.objects.get(ticker="GLD").calendar == "XNAS"


def test_asset_created_in_bulk_has_its_category_default():
    Asset.objects.bulk_create([Asset(ticker="EUR", name="Euro", category="CURRENCY")])  # no save(): no calendar
    assert "EUR: calendar 24/5 -> 24/7" in run("--ticker", "EUR", "--exchange", "24/7")


@pytest.mark.parametrize("args, message", [
    (("--ticker", "GLD", "--exchange", "NYSEX"), r"unknown exchange 'NYSEX': use one of 24/7, 24/5, .*XNYS"),
    (("--ticker", "NOPE", "--exchange", "XNYS"), "no asset with ticker 'NOPE'"),
])
def test_errors(args, message):
    Asset.objects.create(ticker="GLD", name="SPDR Gold", category="COMMODITY")
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert Asset.objects.get(ticker="GLD").calendar == "XNYS"
