"""The dashboard and API tests: the small market (``tests.support.market``) and the collected static files."""

from __future__ import annotations

import pytest

from tests.support import market as small_market

market = small_market.market  # a fixture


@pytest.fixture(scope="session", autouse=True)
def collected_static():
    """Pages name their static files by content hash (as `make serve` serves them): collect them once."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
