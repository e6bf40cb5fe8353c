"""Each decision retention run records how many devices' anchored chains it kept whole past
the window while a break or pruned record of each was open (``sync.hub.retention``), which
``/metrics`` gives. A column with a constant default: added without rewriting the table."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0033_access_event_due_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="decisionpurge",
            name="held_chains",
            field=models.IntegerField(default=0),
        ),
    ]
