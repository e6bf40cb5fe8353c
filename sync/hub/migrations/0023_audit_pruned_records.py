"""Records of a chain that begins after entries retention deleted on the device
(``pruned_start``, ``pruned_gap``): open until acknowledged, yet they refuse nothing, so the
one open break a device may have is counted without them."""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0022_spent_form"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="auditbreak",
            name="audit_break_one_open",
        ),
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
                    ("pruned_gap", "entries deleted on the device were lost in the hub's restore"),
                ],
                editable=False,
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="auditbreak",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("acknowledged_at__isnull", True),
                    models.Q(("kind__in", ("pruned_start", "pruned_gap")), _negated=True),
                ),
                fields=("device",),
                name="audit_break_one_open",
            ),
        ),
    ]
