"""gaps.summary against the real QuestDB, through the JSON API that serves it: the gaps of one series, real
and confirmed empty."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support import market as small_market
from tests.support.json_api import get, iso
from tests.support.market import T0

market = small_market.market  # a fixture
pytestmark = pytest.mark.django_db


def test_gaps_of_a_series(client, market):
    status, body = get(client, "/api/gaps", ticker="BTC", interval="60")
    assert status == 200 and body["source"] == "kraken"
    assert body["gaps"] == [{"start": iso(T0 + timedelta(hours=10)), "end": iso(T0 + timedelta(hours=12)),
                             "missing_candles": 3}]
    assert body["confirmed_empty"] == [{"start": iso(T0 + timedelta(hours=30)), "end": iso(T0 + timedelta(hours=30)),
                                        "missing_candles": 1}]
    # A range that overlaps no gap.
    status, body = get(client, "/api/gaps", ticker="BTC", interval="60", start="2024-01-02T12:00Z")
    assert status == 200 and body["gaps"] == [] and body["confirmed_empty"] == []
    status, body = get(client, "/api/gaps", ticker="BTC", interval="1")
    assert [g["missing_candles"] for g in body["gaps"]] == [2, 1]
    status, body = get(client, "/api/gaps", ticker="AAPL", interval="1440")
    assert status == 200 and body["source"] == "massive" and body["gaps"] == []
