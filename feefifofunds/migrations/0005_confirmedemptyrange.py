"""The memory of candle ranges a Kraken backfill confirmed empty (no trades), so gap scans report them apart."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("feefifofunds", "0004_enable_dedup_assetprice")]

    operations = [
        migrations.CreateModel(
            name="ConfirmedEmptyRange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("quote_currency", models.CharField(max_length=10)),
                ("interval_minutes", models.IntegerField()),
                ("start", models.DateTimeField()),
                ("end", models.DateTimeField()),
                ("confirmed_at", models.DateTimeField(auto_now_add=True)),
                ("asset", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                            related_name="confirmed_empty_ranges", to="feefifofunds.asset")),
            ],
            options={
                "ordering": ["asset_id", "quote_currency", "interval_minutes", "start"],
                "indexes": [models.Index(fields=["asset", "quote_currency", "interval_minutes"],
                                         name="ffff_confempty_series_idx")],
            },
        ),
    ]
