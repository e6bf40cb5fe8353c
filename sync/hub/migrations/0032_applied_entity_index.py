"""An index to delete the idempotency keys of templates, photos and people by age
(``sync.hub.retention``), as 0029 does for access events' keys.

Built the same way, without blocking pushes (``CONCURRENTLY``, so outside a transaction),
and again from scratch by the next start when a start was killed while it waited (an
INVALID index, or a whole one not yet recorded, is dropped first). Nothing else is in this
migration, so nothing else can be left half done."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models

DROP = "DROP INDEX CONCURRENTLY IF EXISTS applied_entity_at"
CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS applied_entity_at ON hub_appliedentry"
    " (entity, received_at) WHERE entity IN ('face_template', 'person', 'photo')"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("hub", "0031_decision_purge_refused"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="appliedentry",
                    index=models.Index(
                        condition=models.Q(("entity__in", ("face_template", "person", "photo"))),
                        fields=["entity", "received_at"],
                        name="applied_entity_at",
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
