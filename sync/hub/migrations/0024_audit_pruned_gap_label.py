"""A ``pruned_gap`` says what shows, not what happened: the entries are missing at the hub
since its change log was renewed (as after a restore), which is all the hub can tell."""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0023_audit_pruned_records"),
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
                ],
                editable=False,
                max_length=16,
            ),
        ),
    ]
