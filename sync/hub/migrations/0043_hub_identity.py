"""``HubIdentity``: the hub's own id, which devices tell hubs apart by whatever their
addresses (``sync.hub.identity``). One row, made here: derived from when the hub's database
was made (its first migration's row in ``django_migrations``), so a hub restored from a
backup made before this migration is given the same id again.

The deriving is this migration's own copy of the hub's (``sync.hub.identity.derived_id``) as
it was: a migration does what it did when it was written, so a hub restored from such a
backup after the live rule changes is still given the id it had. (The live rule derives the
id of a hub whose row is missing, so it is held to this copy: a test keeps the two equal.)"""
# ruff: noqa: RUF012

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from django.db import migrations, models

# Copied from sync/hub/identity.py at b7784e4 (the rule as 1485e0e made it: derived from when
# the hub's database was made, its first migration's row). Never changed here (see above).
NAMESPACE = UUID("6f1d2c0e-4a53-4a8e-9b7e-2f0c6d9a1b34")
FIRST_APPLIED = "SELECT applied FROM django_migrations WHERE app = 'hub' AND name = '0001_initial'"


def derived_id(connection: Any) -> UUID:
    """The hub's id, from when its first migration was applied; random when none was
    recorded (no hub has none)."""
    with connection.cursor() as cursor:
        cursor.execute(FIRST_APPLIED)
        row = cursor.fetchone()
    if row is None:
        return uuid4()
    applied: datetime = row[0]
    return uuid5(NAMESPACE, f"hub database made at {applied.astimezone(UTC).isoformat()}")


def _make_id(apps: Any, schema_editor: Any) -> None:
    alias = schema_editor.connection.alias
    uid = derived_id(schema_editor.connection)
    apps.get_model("hub", "HubIdentity").objects.using(alias).create(uid=uid)


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0042_decision_purge_held_counted"),
    ]

    operations = [
        migrations.CreateModel(
            name="HubIdentity",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("one", models.BooleanField(default=True, editable=False, unique=True)),
                ("uid", models.UUIDField(editable=False, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("one", True)), name="hub_identity_one"
                    )
                ],
            },
        ),
        migrations.RunPython(_make_id, migrations.RunPython.noop),
    ]
