"""Each site's change log gets an epoch, renewed when the log is rewound (a restore of the
database from a backup: ``sync.hub.log_epoch``). Existing sites get one when migrated."""
# ruff: noqa: RUF012

from __future__ import annotations

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0020_site_slug_protocol"),
    ]

    operations = [
        migrations.AddField(
            model_name="site",
            name="log_epoch",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
        migrations.AddField(
            model_name="site",
            name="log_epoch_renewed_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
    ]
