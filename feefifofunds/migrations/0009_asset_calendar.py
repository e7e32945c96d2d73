"""Each asset's trading calendar; existing assets get their category's default (feefifofunds.calendars)."""

from django.db import migrations, models

import feefifofunds.models

DEFAULT_BY_CATEGORY = {"CRYPTO": "24/7", "STOCK": "XNYS", "COMMODITY": "XNYS", "CURRENCY": "24/5"}


def fill_defaults(apps, schema_editor):
    Asset = apps.get_model("feefifofunds", "Asset")
    for category, calendar in DEFAULT_BY_CATEGORY.items():
        Asset.objects.filter(category=category, calendar="").update(calendar=calendar)
    Asset.objects.filter(calendar="").update(calendar="24/7")


class Migration(migrations.Migration):
    dependencies = [("feefifofunds", "0008_zipmemberdone")]

    operations = [
        migrations.AddField(
            model_name="asset",
            name="calendar",
            field=models.CharField(blank=True, default="", help_text="24/7, 24/5 or an exchange code (XNYS, XLON, ...)",
                                   max_length=16, validators=[feefifofunds.models.validate_calendar]),
        ),
        migrations.RunPython(fill_defaults, migrations.RunPython.noop),
    ]
