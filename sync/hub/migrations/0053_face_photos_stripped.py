"""Face photos an older hub kept whole (GPS positions, serial numbers, names) lose their
metadata, by the rule the hub now keeps them by (``sync.hub.face_photo_upgrade``), without
waiting for their devices.

Outside one transaction (atomic = False): each photo is stripped in a transaction of its
own, so a start killed midway leaves every photo whole or stripped, and the migration
unrecorded; the next start strips the rest (and writes nothing for those already stripped).
Nothing else is in this migration, so nothing else can be left half done. Back: nothing to
undo (the metadata is gone for good), and forward again changes nothing."""
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from django.db import migrations

from sync.hub.face_photo_upgrade import strip_stored_face_photos


def _strip(apps: Any, schema_editor: Any) -> None:
    strip_stored_face_photos(apps.get_model("hub", "Photo"), schema_editor.connection.alias)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("hub", "0052_catch_text_without_bidi_controls"),
    ]

    operations = [
        migrations.RunPython(_strip, migrations.RunPython.noop),
    ]
