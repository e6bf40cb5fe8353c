"""Each species pack's schema (``SpeciesPack.schema``), read from the manifest of the
archive the hub holds, so that a pack published before is announced only to the devices
that read it, as a new one is."""
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from sync.species_packs import archive_schema


def _schemas(apps: Any, schema_editor: Any) -> None:
    packs = apps.get_model("hub", "SpeciesPack").objects.using(schema_editor.connection.alias)
    for pk in packs.values_list("pk", flat=True):  # one archive in memory at a time
        data = bytes(packs.values_list("data", flat=True).get(pk=pk))
        packs.filter(pk=pk).update(schema=archive_schema(data))


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0017_person_retain_until"),
    ]

    operations = [
        migrations.AddField(
            model_name="speciespack",
            name="schema",
            field=models.PositiveSmallIntegerField(default=1, editable=False),
        ),
        migrations.RunPython(_schemas, migrations.RunPython.noop),
    ]
