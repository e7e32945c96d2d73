"""The catalog's identity (a random UUID, created here once) and the price store's record of the catalog it
is bound to (the QuestDB table ``feefifofunds_binding``, on settings.QUESTDB_MIGRATION_ALIAS).

The store is bound when a command or the web first meets it (``feefifofunds.store.binding``), not here.
Reversing it drops both: the store forgets which catalog filled it.
"""

import uuid

from django.conf import settings
from django.db import migrations, models

from feefifofunds.store import binding, schema


def create_identity(apps, schema_editor):
    CatalogIdentity = apps.get_model("feefifofunds", "CatalogIdentity")
    CatalogIdentity.objects.using(schema_editor.connection.alias).get_or_create(
        pk=1, defaults={"catalog_id": uuid.uuid4()})


def create_binding_table(apps, schema_editor):
    schema.for_migration(binding.create_table)(settings.QUESTDB_MIGRATION_ALIAS)


def drop_binding_table(apps, schema_editor):
    schema.for_migration(binding.drop_table)(settings.QUESTDB_MIGRATION_ALIAS)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("feefifofunds", "0009_asset_calendar")]

    operations = [
        migrations.CreateModel(
            name="CatalogIdentity",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("catalog_id", models.UUIDField(unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "constraints": [models.CheckConstraint(condition=models.Q(id=1), name="ffff_catalogidentity_one_row")],
            },
        ),
        migrations.RunPython(create_identity, migrations.RunPython.noop),
        migrations.RunPython(create_binding_table, drop_binding_table, elidable=False),
    ]
