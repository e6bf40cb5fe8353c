"""A device now sends the species pack's verdict on an observation's predictions (protocol 4).

Nullable: observations stored before, or pushed by a protocol-2 or -3 device, have no known
verdict.
"""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("hub", "0006_fish_updated_at_database_time")]

    operations = [
        migrations.AddField(
            model_name="fishobservation",
            name="status",
            field=models.CharField(
                blank=True,
                choices=[
                    ("identified", "identified"),
                    ("unknown", "unknown: below the pack's open-set threshold"),
                    ("no_fish", "no fish: failed the pack's quality gate"),
                ],
                editable=False,
                max_length=16,
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="fishobservation",
            name="status_reason",
            field=models.CharField(blank=True, editable=False, max_length=200, null=True),
        ),
    ]
