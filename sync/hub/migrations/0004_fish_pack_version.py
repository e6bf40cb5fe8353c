"""A device now sends which species pack made an observation's predictions (protocol 3).

Nullable: observations stored before, or pushed by a protocol-2 device, have no known pack.
"""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("hub", "0003_fish_reviewed_by_length")]

    operations = [
        migrations.AddField(
            model_name="fishobservation",
            name="pack_version",
            field=models.CharField(blank=True, editable=False, max_length=200, null=True),
        ),
    ]
