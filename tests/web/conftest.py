"""The dashboard and API tests: the small market (``tests.support.market``)."""

from __future__ import annotations

from tests.support import market as small_market

market = small_market.market  # a fixture

