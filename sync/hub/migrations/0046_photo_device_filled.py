"""Photos already held whose bytes are not stored yet are given the device the hub can
tell pushed them: the author of the catch that names the photo, else the device uploading
it. One with neither stays unknown, and no device may change its contents.

Apart from 0045, which adds the column: rows updated in the transaction that adds its
deferred foreign key leave trigger events pending, and PostgreSQL then refuses the index
Django creates at that migration's end.
"""
# ruff: noqa: RUF012

from typing import Any

from django.db import migrations
from django.db.models import OuterRef, Subquery


def _pushers_of_waiting_photos(apps: Any, schema_editor: Any) -> None:
    alias = schema_editor.connection.alias
    Photo = apps.get_model("hub", "Photo")
    FishObservation = apps.get_model("hub", "FishObservation")
    PhotoUpload = apps.get_model("hub", "PhotoUpload")
    waiting = Photo.objects.using(alias).filter(data__isnull=True, device__isnull=True)
    catch_author = (
        FishObservation.objects.using(alias)
        .filter(photo_uid=OuterRef("uid"), site_id=OuterRef("site_id"), device__isnull=False)
        .order_by("created_at")
    )
    waiting.update(device=Subquery(catch_author.values("device_id")[:1]))
    uploader = PhotoUpload.objects.using(alias).filter(photo_id=OuterRef("pk"))
    waiting.filter(device__isnull=True).update(device=Subquery(uploader.values("device_id")[:1]))


class Migration(migrations.Migration):
    dependencies = [("hub", "0045_photo_device")]

    operations = [migrations.RunPython(_pushers_of_waiting_photos, migrations.RunPython.noop)]
