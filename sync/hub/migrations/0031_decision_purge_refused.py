"""A purge that refused to run because the hub's clock looked ahead records why and by how
much (``sync.hub.clock_check``); such a record is not a run."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0030_audit_checkpoint"),
    ]

    operations = [
        migrations.AddField(
            model_name="decisionpurge",
            name="refused",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="decisionpurge",
            name="clock_ahead",
            field=models.DurationField(null=True),
        ),
    ]
