"""A device now sends which fish in a shared photo an observation is about (protocol 3).

Nullable: observations stored before, or pushed by a protocol-2 device, are of the whole photo.
"""
# ruff: noqa: RUF012

from django.db import migrations, models


def _crop_field() -> models.IntegerField:
    return models.IntegerField(blank=True, editable=False, null=True)


class Migration(migrations.Migration):
    dependencies = [("hub", "0004_fish_pack_version")]

    operations = [
        migrations.AddField(model_name="fishobservation", name=name, field=_crop_field())
        for name in ("crop_x", "crop_y", "crop_w", "crop_h")
    ]
