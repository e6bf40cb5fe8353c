"""Journaled erasures of a site the restored database does not hold, kept until a site of
that slug is made again (``sync.hub.erasure_replay``). A new table: a live hub can run it."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0036_decision_purge_boot"),
    ]

    operations = [
        migrations.CreateModel(
            name="SitelessErasure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("person_uid", models.UUIDField(unique=True)),
                ("site_slug", models.CharField(db_index=True, max_length=200)),
                ("erased_at", models.DateTimeField()),
                ("kind", models.CharField(max_length=20)),
            ],
        ),
    ]
