"""An index to delete access events' idempotency keys by age (``sync.hub.retention``).

It is built without blocking pushes (``CONCURRENTLY``, so outside a transaction): the keys'
table holds every entry a device ever pushed, and the build waits for every older snapshot
(a pg_dump running). Django records the migration only after it, so a start killed while it
waits runs it again at the next start: it first drops what a killed build left (an INVALID
index, or a whole one not yet recorded), then builds it anew. Nothing else is in this
migration, so nothing else can be left half done."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models

DROP = "DROP INDEX CONCURRENTLY IF EXISTS applied_access_event_at"
CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS applied_access_event_at ON hub_appliedentry"
    " (received_at) WHERE entity = 'access_event'"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("hub", "0028_decision_retention"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="appliedentry",
                    index=models.Index(
                        condition=models.Q(("entity", "access_event")),
                        fields=["received_at"],
                        name="applied_access_event_at",
                    ),
                ),
            ],
            database_operations=[
                # Each its own statement, outside a transaction (atomic = False).
                migrations.RunSQL(DROP, migrations.RunSQL.noop),
                migrations.RunSQL(CREATE, DROP),
            ],
        ),
    ]
