"""A catch made from another device's review has no author yet, until the device that
recorded it pushes it (``sync.hub.apply.records``). Catches already held have theirs, or
none for good (their device row gone): False."""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0046_photo_device_filled"),
    ]

    operations = [
        migrations.AddField(
            model_name="fishobservation",
            name="author_pending",
            field=models.BooleanField(default=False, editable=False),
        ),
    ]
