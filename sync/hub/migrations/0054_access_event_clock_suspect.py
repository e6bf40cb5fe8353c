"""``AccessEvent.clock_suspect``: why the kiosk's clock was judged wrong when it made the
decision (protocol 7). A new column with a default, in the database too (a worker of the
release before, still running while the hub upgrades, inserts events without it), added
without rewriting a row (access events refuse UPDATE, migration 0002): a live hub can run
it, and run it backwards."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0053_face_photos_stripped"),
    ]

    operations = [
        migrations.AddField(
            model_name="accessevent",
            name="clock_suspect",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
    ]
