"""Where an interrupted walk over a pair's Kraken trades stopped, so the next backfill resumes there."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("feefifofunds", "0006_assetprice_partition_by_month")]

    operations = [
        migrations.CreateModel(
            name="TradesProgress",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("quote_currency", models.CharField(max_length=10)),
                ("start", models.DateTimeField()),
                ("reached", models.DateTimeField()),
                ("cursor", models.TextField()),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("asset", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                            related_name="trades_progress", to="feefifofunds.asset")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("asset", "quote_currency", "start"),
                                                        name="ffff_tradesprogress_walk")],
            },
        ),
    ]
