"""Create the QuestDB table ``assetprice`` (on the QuestDB alias settings.QUESTDB_MIGRATION_ALIAS).

The migration history lives in the catalog database; the operation runs against QuestDB. Reversing it
drops the table and every candle in it. The DDL is this migration's own (PARTITION BY DAY, as first
shipped): later layouts are later migrations (0006 rebuilds it by MONTH), never an edit here.
"""

from django.conf import settings
from django.db import migrations

from feefifofunds.store import client, schema

CREATE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS assetprice (
    time TIMESTAMP,
    asset_id INT,
    interval_minutes INT,
    open DOUBLE,
    high DOUBLE,
    low DOUBLE,
    close DOUBLE,
    volume DOUBLE,
    trade_count LONG,
    vwap DOUBLE,
    quote_currency SYMBOL,
    source SYMBOL
) TIMESTAMP(time) PARTITION BY DAY WAL
"""


def create_assetprice(alias: str) -> None:
    client.execute(CREATE_TABLE_SQL, alias=alias)


def create_table(apps, schema_editor):
    schema.for_migration(create_assetprice)(settings.QUESTDB_MIGRATION_ALIAS)


def drop_table(apps, schema_editor):
    schema.for_migration(schema.drop_table)(settings.QUESTDB_MIGRATION_ALIAS)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("feefifofunds", "0002_assetprice_unmanaged")]
    operations = [migrations.RunPython(create_table, drop_table, elidable=False)]
