"""Each species pack's schema (``SpeciesPack.schema``), read from the manifest of the
archive the hub holds, so that a pack published before is announced only to the devices
that read it, as a new one is.

The reading is this migration's own copy of the hub's (``sync.species_packs.archive_schema``
and the archive limit it opens by, ``sync.species_pack_members``) as it was: a migration does
what it did when it was written, so a hub migrated from nothing after the live reader changes
gives its packs the schemas every other hub's 0018 gave. Should packs need reading again by
a new rule, a new migration reads them."""
# ruff: noqa: RUF012

from __future__ import annotations

import io
import json
import zipfile
import zlib
from typing import Any

from django.db import migrations, models

# Copied from sync/species_packs.py and sync/species_pack_members.py at b7784e4 (the rule
# unchanged since fa965c5 wrote 0018). Never changed here (see the module).
MANIFEST = "manifest.json"
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024


class _UnreadableError(Exception):
    """An archive too large or no ZIP (the live code's ``PackArchiveError``)."""


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        if len(data) > MAX_ARCHIVE_BYTES:
            raise _UnreadableError(
                f"the archive has {len(data)} bytes; the most is {MAX_ARCHIVE_BYTES}"
            )
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise _UnreadableError(f"not a readable pack archive: {error}") from error


def archive_schema(data: bytes) -> int:
    """The pack schema the archive's manifest gives, or 1 when it gives none readable."""
    try:
        with _open_zip(data) as archive:
            schema = json.loads(archive.read(MANIFEST)).get("schema")
    except (_UnreadableError, KeyError, ValueError, AttributeError, zipfile.BadZipFile, zlib.error):
        return 1
    return schema if isinstance(schema, int) and not isinstance(schema, bool) and schema >= 1 else 1


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
