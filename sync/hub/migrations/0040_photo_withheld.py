"""``Photo.withheld``: a face image its device keeps by its site's policy (protocol 5). A new
column with a default: a live hub can run it, and run it backwards."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0039_fish_status_familiarity"),
    ]

    operations = [
        migrations.AddField(
            model_name="photo",
            name="withheld",
            field=models.BooleanField(default=False),
        ),
    ]
