"""A photo keeps the device that pushed it: only that device may change its contents
(sha256, size) before its bytes are stored (``sync.hub.apply.records``).

Photos already held whose bytes are not stored yet are given the device the hub can tell:
the author of the catch that names the photo, else the device uploading it. One with
neither stays unknown, and no device may change its contents.
"""
# ruff: noqa: RUF012

from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def _pushers_of_waiting_photos(apps: Any, schema_editor: Any) -> None:
    Photo = apps.get_model("hub", "Photo")
    FishObservation = apps.get_model("hub", "FishObservation")
    PhotoUpload = apps.get_model("hub", "PhotoUpload")
    waiting = Photo.objects.filter(data__isnull=True, device__isnull=True)
    catch_author = FishObservation.objects.filter(
        photo_uid=OuterRef("uid"), site_id=OuterRef("site_id"), device__isnull=False
    ).order_by("created_at")
    waiting.update(device=Subquery(catch_author.values("device_id")[:1]))
    uploader = PhotoUpload.objects.filter(photo_id=OuterRef("pk"))
    waiting.filter(device__isnull=True).update(device=Subquery(uploader.values("device_id")[:1]))


class Migration(migrations.Migration):
    dependencies = [("hub", "0044_audit_restarted_kind")]

    operations = [
        migrations.AddField(
            model_name="photo",
            name="device",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="hub.device",
            ),
        ),
        migrations.RunPython(_pushers_of_waiting_photos, migrations.RunPython.noop),
    ]
