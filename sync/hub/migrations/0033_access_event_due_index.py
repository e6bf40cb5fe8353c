"""An index of the access events by when they are due for retention (``sync.hub.retention``):
an event goes once it happened and reached the hub the window ago, so once the later of its
two times is past the cutoff. The index of the event's own time (``access_site_time``) lists
first every event dated long ago, taken only lately (a kiosk's clock years behind, a board
without a clock battery); each batch of each run read those all again before reaching a due
one.

Built as 0029's is, without blocking pushes (``CONCURRENTLY``, so outside a transaction, and
alone in its migration): a start killed while it waits (behind a pg_dump running) leaves an
INVALID index, or a whole one not yet recorded, which the next start drops and builds anew."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models
from django.db.models.functions import Greatest

DROP = "DROP INDEX CONCURRENTLY IF EXISTS access_site_due"
CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS access_site_due ON hub_accessevent"
    " (site_id, (GREATEST(occurred_at, received_at)))"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("hub", "0032_applied_entity_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="accessevent",
                    index=models.Index(
                        models.F("site"),
                        Greatest("occurred_at", "received_at"),
                        name="access_site_due",
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
