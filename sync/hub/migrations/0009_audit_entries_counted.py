"""Each device's anchored audit entries counted in its chain state (``AuditChainState.entries``),
so ``/metrics`` no longer counts the whole table; counted once here for the entries held."""

# ruff: noqa: RUF012

from django.db import migrations, models

COUNT_HELD = """
UPDATE hub_auditchainstate AS state SET entries = (
    SELECT count(*) FROM hub_anchoredauditentry AS entry WHERE entry.device_id = state.device_id
);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0008_audit_anchor"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditchainstate",
            name="entries",
            field=models.BigIntegerField(default=0, verbose_name="entries held"),
        ),
        migrations.RunSQL(COUNT_HELD, migrations.RunSQL.noop),
    ]
