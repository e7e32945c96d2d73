"""The server-rendered dashboard pages (Django test client; the browser test drives them in Chromium)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_asset_list_search_and_filters(client, market):
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("BTC", "AAPL", "ETH", "Tier 1", "massive", "2024-01-03T23:00:00Z", "1437"):
        assert text in html
    assert 'data-ticker="AAPL"' not in client.get("/", {"tier": "TIER1"}).content.decode()
    stocks = client.get("/", {"category": "STOCK"}).content.decode()
    assert 'data-ticker="AAPL"' in stocks and 'data-ticker="BTC"' not in stocks
    assert 'data-ticker="BTC"' in client.get("/", {"q": "bitc"}).content.decode()
    bad = client.get("/", {"tier": "' OR 1=1 --"})
    assert bad.status_code == 400 and "tier must be one of" in bad.content.decode()


def test_asset_page(client, market):
    page = client.get("/assets/BTC/", {"interval": "60", "quote": "USD"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="chart"' in html and "lightweight-charts.standalone.production." in html
    assert '"interval": 60' in html and '"start": "2024-01-01T00:00:00Z"' in html
    assert client.get("/assets/btc/").status_code == 200  # default series, lower-case ticker
    empty = client.get("/assets/ETH/")
    assert empty.status_code == 200 and 'id="no-data"' in empty.content.decode()
    assert client.get("/assets/NOPE/").status_code == 404
    assert client.get("/assets/BTC/", {"interval": "60", "resample": "30"}).status_code == 400
    assert client.get("/assets/BTC/", {"start": "2024-01-02", "end": "2024-01-01"}).status_code == 400


def test_admin_still_needs_login(client, market):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_store_unreachable_is_an_error_page(client, market, settings):
    settings.QUESTDB_DATABASES = {**settings.QUESTDB_DATABASES, "questdb": settings.QUESTDB_DATABASES["unreachable"]}
    for url in ("/", "/assets/BTC/"):
        page = client.get(url)
        assert page.status_code == 503 and page["Content-Type"].startswith("text/html")
        html = page.content.decode()
        assert 'id="error-message"' in html and "price store (QuestDB) cannot be reached" in html


def test_asset_list_is_paginated(client, market):
    from feefifofunds.models import Asset

    Asset.objects.bulk_create([Asset(ticker=f"Z{i:03d}", name=f"Zed {i}", category="STOCK") for i in range(150)])
    first = client.get("/").content.decode()
    assert first.count('class="ticker"') == 100 and "page 1 of 2 (153 assets)" in first and "page=2" in first
    second = client.get("/", {"page": "2"}).content.decode()
    assert second.count('class="ticker"') == 53 and 'data-ticker="Z149"' in second
    stocks = client.get("/", {"category": "STOCK", "page": "2"}).content.decode()
    assert "category=STOCK&amp;page=1" in stocks
    assert client.get("/", {"page": "0"}).status_code == 400


def test_unknown_page_is_a_readable_404(client, market):
    page = client.get("/no/such/page/")
    assert page.status_code == 404 and 'id="error-message"' in page.content.decode()
