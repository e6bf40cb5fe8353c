"""Decision retention on the hub (``sync.hub.retention``): each purge's record, made when the
run starts (``finished_at`` empty until it ends) and counted up batch by batch. Its index
(0029) is built apart: a CREATE INDEX CONCURRENTLY cannot run in a transaction, and this
table must not be made outside one, or a start killed in between would leave it made and
the migration unrecorded."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
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
                ("finished_at", models.DateTimeField(null=True)),
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
    ]
