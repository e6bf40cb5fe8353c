"""The review queue's thumbnail of a catch photo, kept in the photo's row
(``sync.hub.thumbnails``). None is made yet: NULL."""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0047_catch_author_pending"),
    ]

    operations = [
        migrations.AddField(
            model_name="photo",
            name="thumbnail",
            field=models.BinaryField(editable=False, null=True),
        ),
    ]
