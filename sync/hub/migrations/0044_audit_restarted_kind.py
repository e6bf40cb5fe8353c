"""A ``restarted`` break: a restored store's chain that begins anew at the device's
registration entry, recorded there (``sync.hub.audit_restart``)."""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0043_hub_identity"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditbreak",
            name="kind",
            field=models.CharField(
                choices=[
                    ("diverged", "an entry the hub holds came with another hash"),
                    ("unlinked", "the next entry does not follow the hub's newest"),
                    ("rewound", "the device's chain ends before the hub's newest entry"),
                    ("reissued", "a new registration code was issued: the chain starts anew"),
                    (
                        "pruned_start",
                        "the chain begins after entries retention deleted on the device",
                    ),
                    (
                        "pruned_gap",
                        "entries deleted on the device are missing here since the hub's log "
                        "renewal",
                    ),
                    ("restarted", "the chain begins anew at the device's registration entry"),
                ],
                editable=False,
                max_length=16,
            ),
        ),
    ]
