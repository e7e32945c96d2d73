"""Fixtures for the API-source tests: fake Massive/Finnhub servers wired into settings. Import them by name."""

from __future__ import annotations

import pytest

from .fake_finnhub import FakeFinnhub
from .fake_massive import FakeMassive

FAST = {"API_RETRY_BACKOFF_SECONDS": 0.0, "API_RETRY_ATTEMPTS": 3, "API_TIMEOUT_SECONDS": 5.0,
        "MASSIVE_REQUESTS_PER_MINUTE": 100000, "FINNHUB_REQUESTS_PER_MINUTE": 100000,
        "MASSIVE_RATE_WINDOW_SECONDS": 0.0, "API_RETRY_AFTER_MAX_SECONDS": 0.0}


@pytest.fixture
def api_settings(settings, monkeypatch):
    for name in ("MASSIVE_API_KEY", "FINNHUB_API_KEY", "MASSIVE_API_URL", "FINNHUB_API_URL", *FAST):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAST.items():
        setattr(settings, name, value)
    return settings


@pytest.fixture
def fake_massive(api_settings):
    with FakeMassive() as server:
        api_settings.MASSIVE_API_URL = server.url
        api_settings.MASSIVE_API_KEY = server.key
        yield server


@pytest.fixture
def fake_finnhub(api_settings):
    with FakeFinnhub() as server:
        api_settings.FINNHUB_API_URL = server.url + "/api/v1"
        api_settings.FINNHUB_API_KEY = server.key
        yield server


def subprocess_env(command_env: dict, massive: FakeMassive | None = None, finnhub: FakeFinnhub | None = None):
    env = dict(command_env)
    env.update({k: str(v) for k, v in FAST.items()})
    if massive is not None:
        env.update(MASSIVE_API_URL=massive.url, MASSIVE_API_KEY=massive.key)
    if finnhub is not None:
        env.update(FINNHUB_API_URL=finnhub.url + "/api/v1", FINNHUB_API_KEY=finnhub.key)
    return env
