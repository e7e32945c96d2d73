"""Every migration path of the reference, against the real QuestDB."""

from datetime import UTC, datetime, timedelta
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
    assert (partition_by, wal, ts) == ("MONTH", True, "time")


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


# Several series (two quotes of one asset, another asset, two intervals, a NULL vwap), rows on both sides
# of day, month and year edges, and a second run of days so the DAY layout has many partitions.
EDGES = [datetime(2023, 12, 31, 23, 59, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC),
         datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC),
         datetime(2024, 2, 29, 23, 0, tzinfo=UTC), datetime(2024, 3, 1, 0, 1, tzinfo=UTC)]
TIMES = EDGES + [datetime(2024, 5, 1, tzinfo=UTC) + timedelta(hours=7 * i) for i in range(60)]
SERIES = [(1, 1, "USD"), (1, 1, "EUR"), (1, 60, "USD"), (2, 1, "USD")]


def fill_store():
    from questdb import TimestampNanos

    with client.open_sender() as sender:
        for n, at in enumerate(TIMES):
            for s, (asset, interval, quote) in enumerate(SERIES):
                columns = {"asset_id": asset, "interval_minutes": interval, "open": 1.5 + n, "high": 2.25 + n,
                           "low": 1.0 + n, "close": 2.0 + n + s / 8, "volume": 0.1 * n, "trade_count": n}
                if s != 3:
                    columns["vwap"] = 1.75 + n
                sender.row("assetprice", symbols={"quote_currency": quote, "source": "kraken"}, columns=columns,
                           at=TimestampNanos(int(at.timestamp() * 1_000_000) * 1000))
        sender.flush()
    client.wait_for_wal("assetprice")


def snapshot():
    client.wait_for_wal("assetprice")
    return client.query("SELECT * FROM assetprice ORDER BY time, asset_id, interval_minutes, quote_currency")


def layout():
    return (client.query("SELECT partitionBy, walEnabled FROM tables() WHERE table_name='assetprice'")[0],
            schema.dedup_state("questdb"))


def test_0006_rebuilds_a_filled_store_by_month_and_back_by_day(questdb):
    migrate("0005")
    assert layout()[0] == ("DAY", True)
    fill_store()
    before = snapshot()
    assert len(before) == len(TIMES) * len(SERIES)
    day_partitions = client.query("SELECT count() FROM table_partitions('assetprice')")[0][0]
    assert day_partitions > 10

    migrate()
    (partition_by, wal), (enabled, keys) = layout()
    assert (partition_by, wal, enabled, set(keys)) == ("MONTH", True, True, KEYS)
    assert snapshot() == before
    assert client.query("SELECT count() FROM table_partitions('assetprice')")[0][0] == 5  # 2023-12 .. 2024-05
    assert not client.query("SELECT table_name FROM tables() WHERE table_name LIKE 'assetprice__%'")

    migrate("0005")
    (partition_by, wal), (enabled, keys) = layout()
    assert (partition_by, wal, enabled, set(keys)) == ("DAY", True, True, KEYS)
    assert snapshot() == before
    assert client.query("SELECT count() FROM table_partitions('assetprice')")[0][0] == day_partitions

    migrate()
    # DEDUP still works on the rebuilt table: the same key again replaces, never adds.
    from questdb import TimestampNanos

    with client.open_sender() as sender:
        sender.row("assetprice", symbols={"quote_currency": "EUR", "source": "kraken"},
                   columns={"asset_id": 1, "interval_minutes": 1, "open": 1.0, "high": 9.0, "low": 1.0,
                            "close": 7.0, "volume": 1.0, "trade_count": 1},
                   at=TimestampNanos(int(EDGES[2].timestamp() * 1_000_000) * 1000))
        sender.flush()
    after = snapshot()
    assert len(after) == len(before)
    assert client.query("SELECT close FROM assetprice WHERE asset_id = 1 AND interval_minutes = 1 AND "
                        "quote_currency = 'EUR' AND time = '2024-01-31T23:59:59.999999Z'") == [(7.0,)]


def test_rebuild_in_small_batches_keeps_every_row(questdb):
    fill_store()
    before = snapshot()
    assert schema.rebuild("questdb", "DAY", batch_rows=7)
    assert snapshot() == before and layout()[0] == ("DAY", True)
    assert schema.rebuild("questdb", "MONTH", batch_rows=30)
    assert snapshot() == before and layout()[0] == ("MONTH", True)
    assert not schema.rebuild("questdb", "MONTH")  # already so: nothing to do
    assert set(schema.dedup_state("questdb")[1]) == KEYS


def test_rebuild_recovers_from_a_kill_between_the_renames(questdb):
    fill_store()
    before = snapshot()
    client.execute("RENAME TABLE assetprice TO assetprice__previous")
    client.execute("CREATE TABLE assetprice__rebuild (time TIMESTAMP, x INT) TIMESTAMP(time) PARTITION BY DAY WAL")
    assert schema.rebuild("questdb", "DAY")
    assert snapshot() == before and layout()[0] == ("DAY", True)
    assert not client.query("SELECT table_name FROM tables() WHERE table_name LIKE 'assetprice__%'")
    assert schema.rebuild("questdb", schema.PARTITION_BY)  # the layout the other tests expect


def test_0009_gives_existing_assets_their_category_calendar():
    from django.db import connection

    from feefifofunds.models import Asset

    migrate("0008")
    with connection.cursor() as cursor:
        for ticker, category in (("BTC", "CRYPTO"), ("AAPL", "STOCK"), ("GLD", "COMMODITY"), ("EUR", "CURRENCY")):
            cursor.execute("INSERT INTO feefifofunds_asset (ticker, name, category, quote_currency, description, tier, "
                           "active, created_at, updated_at) VALUES (%s, %s, %s, 'USD', '', '', TRUE, %s, %s)",
                           [ticker, ticker, category, datetime.now(UTC), datetime.now(UTC)])
    migrate()
    assert dict(Asset.objects.values_list("ticker", "calendar")) == {
        "BTC": "24/7", "AAPL": "XNYS", "GLD": "XNYS", "EUR": "24/5"}
