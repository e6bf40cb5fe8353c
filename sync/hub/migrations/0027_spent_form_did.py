"""A spent one-shot form keeps what its POST did (the devices' names, never a code) and
whether its answer showed a code, so the refusal of the form sent again (after the back
button) can say it (``sync.hub.admin.once``).
Forms spent before keep nothing: their refusal says when only."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0026_erased_change"),
    ]

    operations = [
        migrations.AddField(
            model_name="spentform",
            name="did",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="spentform",
            name="showed_code",
            field=models.BooleanField(default=False),
        ),
    ]
