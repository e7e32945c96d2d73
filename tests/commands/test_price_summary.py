from io import StringIO

import pytest
from django.core.management import call_command

from tests.support.archive import copy_real_samples

pytestmark = pytest.mark.django_db


def test_summary_lists_stored_series(questdb, tmp_path):
    copy_real_samples(tmp_path / "data")
    call_command("ingest_sequential", "--data-dir", str(tmp_path / "data"), "--yes", stdout=StringIO())
    out = StringIO()
    call_command("price_summary", "--ticker", "btc", stdout=out)
    text = out.getvalue()
    assert "BTC" in text and "TIER1" in text and "1440 min" in text and "2013-10-06 00:00" in text
    assert "1 series, 300 candles" in text and "ETH" not in text
