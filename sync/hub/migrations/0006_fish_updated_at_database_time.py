"""A fish observation's ``updated_at`` is stamped by the database's clock, not the worker's.

``export-corrections --since`` selects on it; a worker whose clock lagged the exporter's
stamped changes that the next export then missed. The column is unchanged: only who writes
its value.
"""
# ruff: noqa: RUF012

from django.db import migrations

import sync.hub.models.fish


class Migration(migrations.Migration):
    dependencies = [("hub", "0005_fish_crop")]

    operations = [
        migrations.AlterField(
            model_name="fishobservation",
            name="updated_at",
            field=sync.hub.models.fish.DatabaseTimeField(blank=True, editable=False),
        ),
    ]
