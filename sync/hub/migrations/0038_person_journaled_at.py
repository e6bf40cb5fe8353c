"""When a person's erasure was known to be in the erasure journal (``Person.journaled_at``),
and an index of the erased people not yet known to be: each start's catch-up
(``sync.hub.erasure_catchup``) reads them from it, and at a start with nothing to catch up
reads an empty index, however many people were erased.

Nobody is marked here: an upgraded hub's first start marks the erased people its journal
names (the replay reads every line) and journals the rest, erased before the journal
existed or whose line was lost. The column is nullable with no default (no table rewrite);
the index is built as 0033's is, without blocking pushes (``CONCURRENTLY``, so outside a
transaction: ``atomic = False``)."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models

DROP = "DROP INDEX CONCURRENTLY IF EXISTS person_erased_unjournaled"
CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS person_erased_unjournaled ON hub_person (id)"
    " WHERE erased_at IS NOT NULL AND journaled_at IS NULL"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("hub", "0037_siteless_erasure"),
    ]

    operations = [
        migrations.AddField(
            model_name="person",
            name="journaled_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="person",
                    index=models.Index(
                        condition=models.Q(erased_at__isnull=False, journaled_at=None),
                        fields=["id"],
                        name="person_erased_unjournaled",
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
