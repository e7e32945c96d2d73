"""The read-only JSON API against the real QuestDB and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.json_api import all_pages, frame_of, get, iso
from tests.support.market import T0

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- assets


def test_assets_filters(client, market):
    tickers = lambda body: [a["ticker"] for a in body["assets"]]  # noqa: E731
    assert tickers(get(client, "/api/assets", q="bit", gaps="0")[1]) == ["BTC"]
    assert tickers(get(client, "/api/assets", q="apple")[1]) == ["AAPL"]
    assert tickers(get(client, "/api/assets", tier="tier1")[1]) == ["BTC", "ETH"]
    assert tickers(get(client, "/api/assets", category="STOCK")[1]) == ["AAPL"]
    assert tickers(get(client, "/api/assets", category="CRYPTO", q="eth")[1]) == ["ETH"]
    status, body = get(client, "/api/assets", gaps="0")
    assert status == 200 and all(c["open_gaps"] is None for a in body["assets"] for c in a["coverage"])


def test_asset_detail(client, market):
    status, body = get(client, "/api/assets/btc")
    assert status == 200 and body["ticker"] == "BTC" and len(body["coverage"]) == 3
    status, body = get(client, "/api/assets/NOPE")
    assert status == 404 and body["error"]["code"] == "unknown_ticker"


# ---------------------------------------------------------------- candles


def test_candles_equal_stored_rows(client, market):
    status, body = get(client, "/api/candles", ticker="BTC", interval="60")
    assert status == 200
    assert (body["source"], body["quote_currency"], body["count"], body["next_cursor"]) == ("kraken", "USD", 68, None)
    got = frame_of(body["candles"])
    assert got.columns == ["time", "open", "high", "low", "close", "volume", "trade_count", "vwap"]
    expected = market.btc_1h
    assert got["time"].to_list() == expected["time"].to_list()
    for col in ("open", "high", "low", "close", "volume", "vwap"):
        assert got[col].to_list() == pytest.approx(expected[col].to_list(), rel=1e-12)
    assert got["trade_count"].to_list() == expected["trade_count"].to_list()


def test_candles_range_and_quote(client, market):
    status, body = get(client, "/api/candles", ticker="BTC", interval="60", quote="eur",
                       start="2024-01-01T05:00:00Z", end="2024-01-01T08:00")
    assert status == 200 and body["quote_currency"] == "EUR"
    assert [c["time"] for c in body["candles"]] == [iso(T0 + timedelta(hours=h)) for h in (5, 6, 7)]
    assert body["candles"][0]["close"] == pytest.approx(market.btc_eur_1h["close"][5])
    # Null trade counts come back as null; an empty range is an empty page.
    status, body = get(client, "/api/candles", ticker="AAPL", interval="1440")
    assert status == 200 and body["count"] == 10 and body["candles"][0]["trade_count"] is None
    status, body = get(client, "/api/candles", ticker="BTC", interval="60", start="2030-01-01")
    assert status == 200 and body["candles"] == [] and body["next_cursor"] is None
    status, body = get(client, "/api/candles", ticker="ETH", interval="60")
    assert status == 200 and body["candles"] == [] and body["source"] is None


def test_pagination(client, market):
    rows, pages = all_pages(client, ticker="BTC", interval="1", limit="400")
    assert pages == 4
    assert [r["time"] for r in rows] == [iso(t) for t in market.btc_1m["time"].to_list()]
    status, body = get(client, "/api/candles", ticker="BTC", interval="1", limit="400")
    follow = client.get(body["next"])
    assert follow.status_code == 200 and follow.json()["candles"][0] == rows[400]


def test_resample_response_shape(client, market):
    status, body = get(client, "/api/candles", ticker="BTC", interval="60", resample="1440")
    assert status == 200
    assert (body["interval_minutes"], body["base_interval_minutes"], body["resampled"]) == (1440, 60, True)
    assert [c["time"] for c in body["candles"]] == [iso(T0 + timedelta(days=d)) for d in range(3)]


# ---------------------------------------------------------------- gaps


def test_read_only_and_unknown_endpoints(client, market):
    response = client.post("/api/candles", {"ticker": "BTC", "interval": "60"})
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    response = client.get("/api/prices")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = client.post("/api/openapi.json")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    response = client.head("/api/candles", {"ticker": "BTC", "interval": "60"})
    assert response.status_code == 200 and response.content == b"" and int(response["Content-Length"]) > 1000


def test_unreachable_store_is_503(client, market, settings):
    settings.QUESTDB_DATABASES = {**settings.QUESTDB_DATABASES, "questdb": settings.QUESTDB_DATABASES["unreachable"]}
    response = client.get("/api/candles", {"ticker": "BTC", "interval": "60"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "store_unavailable"


def test_openapi_document(client):
    status, body = get(client, "/api/openapi.json")
    assert status == 200 and body["openapi"].startswith("3.")
    assert {"/api/assets", "/api/assets/{ticker}", "/api/candles", "/api/gaps"} <= set(body["paths"])
    params = {p["name"] for p in body["paths"]["/api/candles"]["get"]["parameters"]}
    assert params == {"ticker", "interval", "quote", "source", "start", "end", "resample", "limit", "cursor"}


# ---------------------------------------------------------------- store trouble: JSON, never a bare HTML 500

API_CALLS = [("/api/assets", {}), ("/api/assets/BTC", {}), ("/api/candles", {"ticker": "BTC", "interval": "60"}),
             ("/api/gaps", {"ticker": "BTC", "interval": "60"})]


def point_store_at(settings, config) -> None:
    settings.QUESTDB_DATABASES = {**settings.QUESTDB_DATABASES, "questdb": config}


@pytest.mark.parametrize(("url", "params"), API_CALLS)
def test_every_endpoint_unreachable_store_is_json_503(client, market, settings, url, params):
    point_store_at(settings, settings.QUESTDB_DATABASES["unreachable"])
    response = client.get(url, params)
    assert response.status_code == 503 and response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "store_unavailable" and "QuestDB" in response.json()["error"]["message"]


def test_failing_query_is_json_500(client, market, settings):
    """A server that speaks PGWire but is not QuestDB (the test PostgreSQL) refuses QuestDB's SQL."""
    from feefifofunds.store.config import QuestDBConfig

    db = settings.DATABASES["default"]
    point_store_at(settings, QuestDBConfig(host=db["HOST"] or "127.0.0.1", pg_port=int(db["PORT"]), http_port=1,
                                           ilp_port=1, user=db["USER"], password=db.get("PASSWORD") or "",
                                           database=db["NAME"]))
    for url, params in API_CALLS:
        response = client.get(url, params)
        assert response.status_code == 500, (url, response.content[:200])
        assert response.json()["error"]["code"] == "store_query_failed"
        assert "SELECT" not in response.json()["error"]["message"]  # a short reason, not the SQL


def test_silent_store_times_out_as_503(client, market, settings):
    """Something listens but never answers: the connection attempt times out and the API says so."""
    import socket

    from feefifofunds.store.config import QuestDBConfig

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        point_store_at(settings, QuestDBConfig(pg_port=silent.getsockname()[1], http_port=1, ilp_port=1))
        response = client.get("/api/assets")
    assert response.status_code == 503 and response.json()["error"]["code"] == "store_unavailable"


def test_gaps_are_paginated(client, market):
    status, body = get(client, "/api/gaps", ticker="BTC", interval="60", limit="1")
    assert status == 200 and len(body["gaps"]) == 1 and body["confirmed_empty"] == []
    assert body["next_cursor"] == iso(T0 + timedelta(hours=30)) and body["next"].startswith("/api/gaps?")
    follow = client.get(body["next"]).json()
    assert follow["gaps"] == [] and len(follow["confirmed_empty"]) == 1 and follow["next_cursor"] is None
    # The trailing gap (last candle to now) is computed at read time.
    assert body["trailing"]["start"] == iso(T0 + timedelta(hours=72))


def test_openapi_covers_every_endpoint(client):
    status, body = get(client, "/api/openapi.json")
    assert status == 200
    assert set(body["paths"]) == {"/api/assets", "/api/assets/{ticker}", "/api/candles", "/api/gaps"}
    gaps = {p["name"] for p in body["paths"]["/api/gaps"]["get"]["parameters"]}
    assert gaps == {"ticker", "interval", "quote", "source", "start", "end", "limit", "cursor"}
    assert client.get("/api/docs").status_code == 200
