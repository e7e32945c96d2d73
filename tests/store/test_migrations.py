"""Every migration path of the reference, against the real QuestDB."""

from io import StringIO

import pytest
from django.core.management import call_command

from feefifofunds.store import client, schema

pytestmark = pytest.mark.django_db(transaction=True)

KEYS = {"time", "asset_id", "interval_minutes", "source", "quote_currency"}


def migrate(*target, fake=False):
    args = ["migrate", "feefifofunds", *target]
    if fake:
        args.append("--fake")
    call_command(*args, stdout=StringIO(), verbosity=0)


def columns():
    return dict(client.query("SELECT \"column\", type FROM table_columns('assetprice')"))


@pytest.fixture(autouse=True)
def back_to_latest():
    yield
    migrate()


def test_new_environment_has_table_with_dedup():
    assert client.table_exists("assetprice")
    enabled, keys = schema.dedup_state("questdb")
    assert enabled and set(keys) == KEYS
    cols = columns()
    assert cols["time"] == "TIMESTAMP" and cols["quote_currency"] == "SYMBOL" and cols["source"] == "SYMBOL"
    for c in ("open", "high", "low", "close", "volume", "vwap"):
        assert cols[c] == "DOUBLE"
    (partition_by, wal, ts) = client.query(
        "SELECT partitionBy, walEnabled, designatedTimestamp FROM tables() WHERE table_name='assetprice'")[0]
    assert (partition_by, wal, ts) == ("DAY", True, "time")


def test_rollback_to_0003_disables_dedup_then_forward_enables():
    migrate("0003")
    assert client.table_exists("assetprice")
    assert schema.dedup_state("questdb")[0] is False
    migrate()
    enabled, keys = schema.dedup_state("questdb")
    assert enabled and set(keys) == KEYS


def test_rollback_to_0002_drops_table():
    migrate("0002")
    assert not client.table_exists("assetprice")
    migrate()
    assert client.table_exists("assetprice") and schema.dedup_state("questdb")[0]


def test_existing_database_path_fake_0003_then_migrate():
    migrate("0002")
    # An existing installation: the table is already there, created outside the migrations, no DEDUP.
    schema.create_table("questdb")
    assert schema.dedup_state("questdb")[0] is False
    migrate("0003", fake=True)
    assert schema.dedup_state("questdb")[0] is False
    migrate()
    enabled, keys = schema.dedup_state("questdb")
    assert enabled and set(keys) == KEYS


def test_dedup_keeps_usd_and_eur_apart_and_overwrites_same_key(questdb):
    with client.open_sender() as sender:
        from questdb import TimestampNanos

        for quote, close in (("USD", 1.0), ("EUR", 2.0), ("USD", 3.0)):
            sender.row("assetprice", symbols={"quote_currency": quote, "source": "kraken"},
                       columns={"asset_id": 1, "interval_minutes": 60, "open": 1.0, "high": 1.0, "low": 1.0,
                                "close": close, "volume": 1.0, "trade_count": 1},
                       at=TimestampNanos(1_700_000_000 * 10**9))
            sender.flush()
    client.wait_for_wal("assetprice")
    rows = client.query("SELECT quote_currency, close FROM assetprice ORDER BY quote_currency")
    assert rows == [("EUR", 2.0), ("USD", 3.0)]
