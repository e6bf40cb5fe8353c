"""``HubIdentity``: the hub's own id, which devices tell hubs apart by whatever their
addresses (``sync.hub.identity``). One row, made here: derived from when the hub's database
was made (its first migration's row in ``django_migrations``), so a hub restored from a
backup made before this migration is given the same id again."""
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from sync.hub.identity import derived_id


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
