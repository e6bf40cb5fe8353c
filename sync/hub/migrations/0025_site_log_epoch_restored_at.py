"""When an admin last renewed a site's change log (``jaga hub renew-log-epoch``): only that
shows a restore to the audit chain's pruned gaps (``sync.hub.audit``); the hub's own
renewals, on a device's word, do not."""
# ruff: noqa: RUF012

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0024_audit_pruned_gap_label"),
    ]

    operations = [
        migrations.AddField(
            model_name="site",
            name="log_epoch_restored_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
    ]
