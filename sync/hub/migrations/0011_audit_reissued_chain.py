"""A new code's record keeps whether the chain that came after it continues the old one
(``AuditBreak.continues_old_chain``); worked out here for the codes issued before."""
# ruff: noqa: RUF012

from django.db import migrations, models

# The segment a code opened is the one after its record's; its first entry, held in an
# earlier segment, is the same store going on.
JUDGE_ISSUED = """
UPDATE hub_auditbreak AS code SET continues_old_chain = EXISTS (
    SELECT 1 FROM hub_anchoredauditentry AS earlier
    WHERE earlier.device_id = code.device_id AND earlier.segment <= code.segment
      AND (earlier.sequence, earlier.entry_hash) = (
        SELECT first.sequence, first.entry_hash FROM hub_anchoredauditentry AS first
        WHERE first.device_id = code.device_id AND first.segment = code.segment + 1
        ORDER BY first.sequence LIMIT 1
      )
)
WHERE code.kind = 'reissued' AND code.acknowledged_at IS NOT NULL AND EXISTS (
    SELECT 1 FROM hub_anchoredauditentry AS opened
    WHERE opened.device_id = code.device_id AND opened.segment = code.segment + 1
);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0010_audit_daily_limit"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditbreak",
            name="continues_old_chain",
            field=models.BooleanField(editable=False, null=True),
        ),
        migrations.RunSQL(JUDGE_ISSUED, migrations.RunSQL.noop),
    ]
