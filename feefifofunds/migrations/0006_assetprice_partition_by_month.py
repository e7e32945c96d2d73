"""Rebuild the QuestDB table ``assetprice`` partitioned by MONTH instead of DAY (README: table layout).

Every row, column, DEDUP key and the WAL are kept; the rows are copied range by range (a few million
rows per statement) into a new table that then replaces the old one by RENAME, holding the store lock so
nothing writes meanwhile. Reversing it rebuilds the DAY layout the same way. On an empty table (a new
installation) it takes a moment.
"""

from django.conf import settings
from django.db import migrations

from feefifofunds.store import schema


def by_month(alias: str) -> None:
    schema.rebuild(alias, "MONTH")


def by_day(alias: str) -> None:
    schema.rebuild(alias, "DAY")


def forward(apps, schema_editor):
    schema.for_migration(by_month)(settings.QUESTDB_MIGRATION_ALIAS)


def backward(apps, schema_editor):
    schema.for_migration(by_day)(settings.QUESTDB_MIGRATION_ALIAS)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("feefifofunds", "0005_confirmedemptyrange")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
