"""Reading back what the archive job stored (real QuestDB and catalog), to compare with the source lines."""

from __future__ import annotations

import pytest

from feefifofunds.models import Asset
from feefifofunds.store import binding, client


def count() -> int:
    client.wait_for_wal("assetprice")
    return client.query("SELECT count() FROM assetprice")[0][0]


def stored(ticker: str = "BTC", interval: int = 60, *, alias: str = "questdb",
           asset_id: int | None = None) -> dict[int, tuple]:
    """A series as stored: Unix time -> (open, high, low, close, volume, trade_count). ``asset_id``: the
    asset's id in another catalog than the suite's (``ticker`` is then not looked up)."""
    client.wait_for_wal("assetprice", alias=alias)
    if asset_id is None:
        asset_id = Asset.objects.get(ticker=ticker).pk
    rows = client.query("SELECT cast(time AS LONG) / 1000000, open, high, low, close, volume, trade_count "
                        "FROM assetprice WHERE asset_id = %s AND interval_minutes = %s ORDER BY time",
                        (asset_id, interval), alias=alias)
    return {r[0]: r[1:] for r in rows}


def parsed(lines: list[str]) -> dict[int, tuple]:
    """Archive lines as ``stored`` gives them."""
    out = {}
    for line in lines:
        t, o, h, lo, c, v, n = line.split(",")
        out[int(t)] = (float(o), float(h), float(lo), float(c), float(v), int(n))
    return out


@pytest.fixture
def unbound_afterwards():
    """For tests that bind the shared store to other catalogs: the next test finds it bound to none (a fixture:
    import it by name)."""
    yield
    client.execute(f"TRUNCATE TABLE {binding.TABLE}")
    binding.forget_checks()


def spy_price_reads(monkeypatch) -> list[str]:
    """The reads of stored candles made from now on, over PGWire or through the export (the real functions
    still answer them): their statements."""
    statements: list[str] = []
    for name in ("query", "export"):
        real = getattr(client, name)

        def spy(sql, *args, real=real, **kwargs):
            if "cast(time AS LONG) / 1000000" in sql and "open" in sql:
                statements.append(sql)
            return real(sql, *args, **kwargs)

        monkeypatch.setattr(client, name, spy)
    return statements
