"""web.params: every parameter of every endpoint checked before any query, a bad one a JSON 4xx naming it."""

from __future__ import annotations

import pytest

from feefifofunds.store import client as store
from feefifofunds.store import schema

pytestmark = pytest.mark.django_db

SQLISH = [
    "BTC' OR '1'='1",
    "BTC; DROP TABLE assetprice;--",
    "1); TRUNCATE TABLE assetprice; --",
    "' UNION SELECT * FROM tables() --",
    "%27%20OR%201%3D1",
    "\x00",
]


@pytest.mark.parametrize(("url", "params", "status", "parameter"), [
    ("/api/candles", {"ticker": "BTC", "interval": "7"}, 400, "interval"),
    ("/api/candles", {"ticker": "BTC", "interval": "sixty"}, 400, "interval"),
    ("/api/candles", {"ticker": "BTC", "interval": "-60"}, 400, "interval"),
    ("/api/candles", {"ticker": "BTC"}, 400, "interval"),
    ("/api/candles", {"interval": "60"}, 400, "ticker"),
    ("/api/candles", {"ticker": "DOGE", "interval": "60"}, 404, "ticker"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "start": "2024-01-02", "end": "2024-01-01"}, 400, "end"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "start": "2024-01-02", "end": "2024-01-02"}, 400, "end"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "start": "yesterday"}, 400, "start"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "start": "2024-02-30"}, 400, "start"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "end": "9999-01-01"}, 400, "end"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "limit": "0"}, 400, "limit"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "limit": "100001"}, 400, "limit"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "resample": "7"}, 400, "resample"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "resample": "30"}, 400, "resample"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "resample": "60"}, 400, "resample"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "resample": "240", "cursor": "2024-01-01T01:00Z"}, 400,
     "cursor"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "cursor": "next"}, 400, "cursor"),
    ("/api/candles", {"ticker": "BTC", "interval": "60", "bogus": "1"}, 400, "bogus"),
    ("/api/candles", {"ticker": ["BTC", "ETH"], "interval": "60"}, 400, "ticker"),
    ("/api/gaps", {"ticker": "BTC", "interval": "2"}, 400, "interval"),
    ("/api/gaps", {"ticker": "NOPE", "interval": "60"}, 404, "ticker"),
    ("/api/assets", {"tier": "TIER9"}, 400, "tier"),
    ("/api/assets", {"category": "BOND"}, 400, "category"),
    ("/api/assets", {"q": "x" * 101}, 400, "q"),
])
def test_invalid_parameters_are_json_4xx(client, market, url, params, status, parameter):
    response = client.get(url, params)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["status"] == status and error["parameter"] == parameter and error["message"]


def test_sql_like_strings_give_4xx(client, market):
    """Every parameter, every endpoint: SQL-like text is refused with a JSON 4xx and executes nothing."""
    for parameter in ("ticker", "quote", "source", "start", "end", "interval", "resample", "limit", "cursor"):
        for value in SQLISH:
            params = {"ticker": "BTC", "interval": "60", parameter: value}
            for url in ("/api/candles", "/api/gaps"):
                if url == "/api/gaps" and parameter in ("resample", "limit", "cursor"):
                    continue
                response = client.get(url, params)
                assert 400 <= response.status_code < 500, (url, parameter, value, response.content[:200])
                assert "error" in response.json()
    for value in SQLISH:
        response = client.get("/api/assets/" + value.replace("/", ""))
        assert 400 <= response.status_code < 500 and "error" in response.json()
        assert client.get("/api/assets", {"q": value}).status_code in (200, 400)
        assert client.get("/api/assets", {"tier": value}).status_code == 400
        assert client.get(f"/assets/{value.replace('/', '')}/").status_code in (400, 404)
    # Nothing was executed: the table and its rows are still there.
    assert client_rows() == 68 + 1437 + 24 + 10


def client_rows() -> int:
    return store.query(f"SELECT count() FROM {schema.TABLE}")[0][0]
