"""A photo keeps the device that pushed it: only that device may change its contents
(sha256, size) before its bytes are stored (``sync.hub.apply.records``). Photos already
held are given theirs by 0046."""
# ruff: noqa: RUF012

import django.db.models.deletion
from django.db import migrations, models


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
    ]
