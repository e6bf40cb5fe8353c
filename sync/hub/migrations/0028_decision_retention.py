"""Decision retention on the hub (``sync.hub.retention``): each purge's record, and an index
to delete access events' idempotency keys by age. The index is built without blocking
pushes (``CONCURRENTLY``, so outside a transaction): the keys' table holds every entry a
device ever pushed."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("hub", "0027_spent_form_did"),
    ]

    operations = [
        migrations.CreateModel(
            name="DecisionPurge",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField()),
                ("keep_days", models.IntegerField()),
                ("cutoff", models.DateTimeField()),
                ("access_events", models.BigIntegerField()),
                ("applied_entries", models.BigIntegerField()),
                ("complete", models.BooleanField(default=True)),
            ],
            options={
                "ordering": ("-started_at",),
            },
        ),
        AddIndexConcurrently(
            model_name="appliedentry",
            index=models.Index(
                condition=models.Q(("entity", "access_event")),
                fields=["received_at"],
                name="applied_access_event_at",
            ),
        ),
    ]
