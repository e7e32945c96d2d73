"""Which members of a Kraken archive zip each price store holds, so an interrupted zip resumes member by member."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("feefifofunds", "0007_tradesprogress")]

    operations = [
        migrations.CreateModel(
            name="ZipMemberDone",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("store", models.CharField(max_length=200)),
                ("zip_name", models.CharField(max_length=255)),
                ("zip_size", models.BigIntegerField()),
                ("zip_digest", models.CharField(max_length=64)),
                ("member", models.CharField(max_length=500)),
                ("done_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "indexes": [models.Index(fields=["store", "zip_name"], name="ffff_zipmemberdone_zip_idx")],
                "constraints": [models.UniqueConstraint(fields=("store", "zip_name", "zip_size", "zip_digest",
                                                                "member"), name="ffff_zipmemberdone_member")],
            },
        ),
    ]
