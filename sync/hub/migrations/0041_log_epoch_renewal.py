"""``LogEpochRenewal``: the last renewal of every site's log epoch by ``jaga hub
renew-log-epoch``, so a second run with no restore since renews nothing. A new table: a live
hub can run it, and run it backwards."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0040_photo_withheld"),
    ]

    operations = [
        migrations.CreateModel(
            name="LogEpochRenewal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("renewed_at", models.DateTimeField()),
                ("database", models.CharField(max_length=200)),
            ],
        ),
    ]
