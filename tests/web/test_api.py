"""The read-only JSON API against the real QuestDB and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from feefifofunds.store import client as store
from feefifofunds.store import schema
from tests.support.market import T0, make_candles

pytestmark = pytest.mark.django_db


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def get(client_, url, **params):
    response = client_.get(url, params)
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, response.json()


def frame_of(candles: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(candles).with_columns(
        pl.col("time").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC")
        if candles and "." in candles[0]["time"]
        else pl.col("time").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="us", time_zone="UTC"))


def all_pages(client_, **params) -> tuple[list[dict], int]:
    rows, pages, cursor = [], 0, None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        status, body = get(client_, "/api/candles", **params, **extra)
        assert status == 200, body
        rows += body["candles"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages
        assert body["next"].startswith("/api/candles?") and "cursor=" in body["next"]


# ---------------------------------------------------------------- assets


def test_assets_with_coverage_and_gap_counts(client, market):
    status, body = get(client, "/api/assets")
    assert status == 200
    assert body["gap_detection"] is True
    by_ticker = {a["ticker"]: a for a in body["assets"]}
    assert set(by_ticker) == {"AAPL", "BTC", "ETH"}
    btc = by_ticker["BTC"]
    assert (btc["tier"], btc["category"], btc["name"]) == ("TIER1", "CRYPTO", "Bitcoin")
    cov = {(c["interval_minutes"], c["quote_currency"], c["source"]): c for c in btc["coverage"]}
    assert set(cov) == {(1, "USD", "kraken"), (60, "USD", "kraken"), (60, "EUR", "kraken")}
    hourly = cov[(60, "USD", "kraken")]
    assert hourly["first"] == iso(T0) and hourly["last"] == iso(T0 + timedelta(hours=71))
    assert hourly["candles"] == market.btc_1h.height == 68
    # The 3-hour hole is open; hour 30 is confirmed empty and does not count.
    assert hourly["open_gaps"] == 1
    assert cov[(1, "USD", "kraken")]["open_gaps"] == 2 and cov[(1, "USD", "kraken")]["candles"] == 1437
    assert cov[(60, "EUR", "kraken")]["open_gaps"] == 0
    assert by_ticker["ETH"]["coverage"] == []
    aapl = by_ticker["AAPL"]["coverage"]
    assert [(c["interval_minutes"], c["source"], c["candles"], c["open_gaps"]) for c in aapl] == [
        (1440, "massive", 10, 0)]


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


def expected_resample(frame: pl.DataFrame, target: int, start=None, end=None) -> pl.DataFrame:
    if start is not None:
        frame = frame.filter(pl.col("time") >= start)
    if end is not None:
        frame = frame.filter(pl.col("time") < end)
    return frame.sort("time").group_by_dynamic("time", every=f"{target}m", closed="left", label="left").agg(
        pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
        pl.col("volume").sum(), pl.col("trade_count").sum(),
    )


@pytest.mark.parametrize(("series", "interval", "target", "start", "end"), [
    ("btc_1m", 1, 15, None, None),
    ("btc_1m", 1, 60, T0 + timedelta(minutes=37), T0 + timedelta(hours=20, minutes=3)),
    ("btc_1m", 1, 240, None, None),
    ("btc_1h", 60, 240, None, None),
    ("btc_1h", 60, 1440, T0 + timedelta(hours=5), None),
])
def test_resampling_matches_polars(client, market, series, interval, target, start, end):
    params = {"ticker": "BTC", "interval": str(interval), "resample": str(target), "limit": "7"}
    if start:
        params["start"] = iso(start)
    if end:
        params["end"] = iso(end)
    rows, pages = all_pages(client, **params)
    expected = expected_resample(getattr(market, series), target, start, end)
    assert pages == -(-expected.height // 7)  # paginated in pages of 7 buckets
    got = frame_of(rows)
    assert got.columns == ["time", "open", "high", "low", "close", "volume", "trade_count"]
    assert got["time"].to_list() == expected["time"].to_list()
    for col in ("open", "high", "low", "close", "volume"):
        assert got[col].to_list() == pytest.approx(expected[col].to_list(), rel=1e-9), col
    assert got["trade_count"].to_list() == expected["trade_count"].to_list()


def test_resample_response_shape(client, market):
    status, body = get(client, "/api/candles", ticker="BTC", interval="60", resample="1440")
    assert status == 200
    assert (body["interval_minutes"], body["base_interval_minutes"], body["resampled"]) == (1440, 60, True)
    assert [c["time"] for c in body["candles"]] == [iso(T0 + timedelta(days=d)) for d in range(3)]


# ---------------------------------------------------------------- gaps


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


# ---------------------------------------------------------------- invalid requests

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


def test_quote_defaults_to_the_series_that_exists(client, market):
    """No quote given: the asset's own (USD) when stored, else the quote currency that has candles."""
    from feefifofunds.ingestion.writer import PriceWriter, SeriesKey
    from feefifofunds.models import Asset

    xrp = Asset.objects.create(ticker="XRP", name="Ripple", category="CRYPTO", tier="TIER2")
    with PriceWriter("questdb") as writer:
        writer.add(make_candles(T0, 60, 5, seed=9, base=0.5), SeriesKey(xrp.pk, 60, "EUR", "kraken"))
        writer.flush()
    store.wait_for_wal(schema.TABLE)
    status, body = get(client, "/api/candles", ticker="XRP", interval="60")
    assert status == 200 and body["quote_currency"] == "EUR" and body["count"] == 5
    status, body = get(client, "/api/gaps", ticker="XRP", interval="60")
    assert status == 200 and body["quote_currency"] == "EUR" and body["source"] == "kraken"
    assert get(client, "/api/candles", ticker="BTC", interval="60")[1]["quote_currency"] == "USD"


def test_gaps_are_paginated(client, market):
    status, body = get(client, "/api/gaps", ticker="BTC", interval="60", limit="1")
    assert status == 200 and len(body["gaps"]) == 1 and body["confirmed_empty"] == []
    assert body["next_cursor"] == iso(T0 + timedelta(hours=30)) and body["next"].startswith("/api/gaps?")
    follow = client.get(body["next"]).json()
    assert follow["gaps"] == [] and len(follow["confirmed_empty"]) == 1 and follow["next_cursor"] is None
    # The trailing gap (last candle to now) is computed at read time.
    assert body["trailing"]["start"] == iso(T0 + timedelta(hours=72))


def test_cache_follows_writes(client, market):
    """Coverage is cached per store version: a write (as by a cron job) is seen on the next request."""
    from feefifofunds.ingestion.writer import PriceWriter, SeriesKey

    before = {c["interval_minutes"]: c for c in get(client, "/api/assets/ETH")[1]["coverage"]}
    assert before == {}
    with PriceWriter("questdb") as writer:
        writer.add(make_candles(T0, 1440, 3, seed=5, base=2000), SeriesKey(market.eth.pk, 1440, "USD", "kraken"))
        writer.flush()
    store.wait_for_wal(schema.TABLE)
    after = get(client, "/api/assets/ETH")[1]["coverage"]
    assert [(c["interval_minutes"], c["candles"]) for c in after] == [(1440, 3)]


def test_openapi_covers_every_endpoint(client):
    status, body = get(client, "/api/openapi.json")
    assert status == 200
    assert set(body["paths"]) == {"/api/assets", "/api/assets/{ticker}", "/api/candles", "/api/gaps"}
    gaps = {p["name"] for p in body["paths"]["/api/gaps"]["get"]["parameters"]}
    assert gaps == {"ticker", "interval", "quote", "source", "start", "end", "limit", "cursor"}
    assert client.get("/api/docs").status_code == 200
