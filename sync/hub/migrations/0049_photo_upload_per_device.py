"""A photo's upload is its starting device's (``sync.hub.uploads``): one per photo and
device, not one per photo that any device of the site could add to. Each existing upload
stays its device's."""
# ruff: noqa: RUF012

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0048_photo_thumbnail"),
    ]

    operations = [
        migrations.AlterField(
            model_name="photoupload",
            name="photo",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="uploads",
                to="hub.photo",
            ),
        ),
        migrations.AddConstraint(
            model_name="photoupload",
            constraint=models.UniqueConstraint(
                fields=("photo", "device"), name="photo_upload_per_device"
            ),
        ),
    ]
