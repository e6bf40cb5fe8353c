"""A daily limit on each device's audit entries (``JAGA_HUB_AUDIT_DAILY_BYTES``): what it
added today, and the batches refused over it."""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0009_audit_entries_counted"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditchainstate",
            name="day",
            field=models.DateField(null=True),
        ),
        migrations.AddField(
            model_name="auditchainstate",
            name="day_bytes",
            field=models.BigIntegerField(default=0, verbose_name="bytes added that day"),
        ),
        migrations.AddField(
            model_name="auditchainstate",
            name="over_limit",
            field=models.BigIntegerField(default=0, verbose_name="batches over the daily limit"),
        ),
        migrations.AddField(
            model_name="auditchainstate",
            name="over_limit_at",
            field=models.DateTimeField(null=True, verbose_name="last over the daily limit"),
        ),
    ]
