"""Create the QuestDB table ``assetprice`` (on the QuestDB alias settings.QUESTDB_MIGRATION_ALIAS).

The migration history lives in the catalog database; the operation runs against QuestDB. Reversing it
drops the table and every candle in it.
"""

from django.conf import settings
from django.db import migrations

from feefifofunds.store import schema


def create_table(apps, schema_editor):
    schema.for_migration(schema.create_table)(settings.QUESTDB_MIGRATION_ALIAS)


def drop_table(apps, schema_editor):
    schema.for_migration(schema.drop_table)(settings.QUESTDB_MIGRATION_ALIAS)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("feefifofunds", "0002_assetprice_unmanaged")]
    operations = [migrations.RunPython(create_table, drop_table, elidable=False)]
