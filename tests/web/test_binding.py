"""The dashboard and the API on a store that belongs to another catalog: a clear 503, never another asset's
candles under this catalog's tickers; the check runs once per worker and only success is remembered."""

from __future__ import annotations

import pytest

from feefifofunds.store import binding
from tests.support.json_api import get
from tests.support.store import unbound_afterwards  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unbound_afterwards")]

OTHER = binding.Catalog("0b1c5e0e-0000-4000-8000-000000000001", "sqlite /old/catalog.sqlite3")


def test_a_store_of_another_catalog_answers_503_until_adopted(client, market):
    binding.bind(OTHER, binding.FIRST_MEETING)
    this = binding.this_catalog().catalog_id

    status, body = get(client, "/api/assets")
    assert status == 503 and body["error"]["code"] == "store_of_another_catalog"
    message = body["error"]["message"]
    assert OTHER.catalog_id in message and this in message and "/old/catalog.sqlite3" in message
    assert "DATABASE_URL" in message and "manage.py bind_store --adopt" in message
    status, body = get(client, "/api/candles", ticker="BTC", interval="60")
    assert status == 503 and body["error"]["code"] == "store_of_another_catalog"
    page = client.get("/")
    assert page.status_code == 503
    html = page.content.decode()
    assert "belongs to another catalog" in html and OTHER.catalog_id in html and "BTC" not in html
    assert client.get("/assets/BTC/").status_code == 503
    assert client.get("/api/openapi.json").status_code == 200  # the API's description shows no prices

    binding.adopt()  # bind_store --adopt: served again without a restart
    assert client.get("/api/assets").status_code == 200
    assert client.get("/").status_code == 200


def test_the_check_is_remembered_per_worker(client, market):
    assert client.get("/api/assets").status_code == 200  # checked and remembered
    binding.bind(OTHER, binding.ADOPTED)  # another checkout rebinds under a running worker
    assert client.get("/api/assets").status_code == 200
    binding.forget_checks()  # a new worker
    assert get(client, "/api/assets")[0] == 503
