"""An index of the catches by photo: a push of a catch new to the hub looks for the one its
device recorded of the same fish of that photo (``sync.hub.apply.same_catch``).

Built as 0032 builds its index, without blocking pushes (``CONCURRENTLY``, so outside a
transaction), and again from scratch by the next start when a start was killed while it
waited (an INVALID index, or a whole one not yet recorded, is dropped first). Nothing else
is in this migration, so nothing else can be left half done."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models

DROP = "DROP INDEX CONCURRENTLY IF EXISTS fish_photo"
CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS fish_photo ON hub_fishobservation (photo_uid)"
    " WHERE photo_uid IS NOT NULL"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("hub", "0050_review_history_under_the_queue"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="fishobservation",
                    index=models.Index(
                        condition=models.Q(("photo_uid__isnull", False)),
                        fields=["photo_uid"],
                        name="fish_photo",
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
