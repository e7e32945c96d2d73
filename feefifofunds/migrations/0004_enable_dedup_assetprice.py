"""Enable QuestDB DEDUP on ``assetprice`` so re-ingesting the same candles is harmless.

UPSERT KEYS are (time, asset_id, interval_minutes, source, quote_currency). The command reference omits
quote_currency; we include it on purpose so BTC/USD and BTC/EUR candles never overwrite each other.
Reversing it disables DEDUP (rows already stored stay as they are).
"""

from django.conf import settings
from django.db import migrations

from feefifofunds.store import schema


def enable(apps, schema_editor):
    schema.for_migration(schema.enable_dedup)(settings.QUESTDB_MIGRATION_ALIAS)


def disable(apps, schema_editor):
    schema.for_migration(schema.disable_dedup)(settings.QUESTDB_MIGRATION_ALIAS)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("feefifofunds", "0003_create_questdb_assetprice_table")]
    operations = [migrations.RunPython(enable, disable, elidable=False)]
