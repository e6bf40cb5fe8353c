"""Each device's audit chain, anchored at the hub, append-only in the database itself; and
the breaks found in it (``sync.hub.models.audit``)."""
# ruff: noqa: RUF012

import django.db.models.deletion
from django.db import migrations, models

FORBID_CHANGES = """
CREATE FUNCTION hub_audit_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'anchored audit entries are append-only (entry %)', OLD.id;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER hub_audit_entry_no_change BEFORE UPDATE OR DELETE ON hub_anchoredauditentry
    FOR EACH ROW EXECUTE FUNCTION hub_audit_entry_append_only();
CREATE FUNCTION hub_audit_entry_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'anchored audit entries are append-only (TRUNCATE refused)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER hub_audit_entry_no_truncate BEFORE TRUNCATE ON hub_anchoredauditentry
    FOR EACH STATEMENT EXECUTE FUNCTION hub_audit_entry_no_truncate();
"""

ALLOW_CHANGES = """
DROP TRIGGER hub_audit_entry_no_truncate ON hub_anchoredauditentry;
DROP FUNCTION hub_audit_entry_no_truncate();
DROP TRIGGER hub_audit_entry_no_change ON hub_anchoredauditentry;
DROP FUNCTION hub_audit_entry_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0007_fish_status"),
    ]

    operations = [
        migrations.CreateModel(
            name="AnchoredAuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("segment", models.IntegerField(default=0)),
                ("sequence", models.BigIntegerField()),
                ("at", models.CharField(max_length=32)),
                ("actor", models.TextField()),
                ("action", models.CharField(max_length=64)),
                ("subject", models.TextField()),
                ("details", models.TextField()),
                ("prev_hash", models.CharField(max_length=64)),
                ("entry_hash", models.CharField(max_length=64)),
                ("received_at", models.DateTimeField(auto_now_add=True)),
                (
                    "device",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="hub.device",
                    ),
                ),
            ],
            options={
                "verbose_name": "anchored audit entry",
                "verbose_name_plural": "anchored audit entries",
                "ordering": ("device", "segment", "sequence"),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("device", "segment", "sequence"), name="audit_entry_sequence"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditBreak",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("segment", models.IntegerField(editable=False)),
                ("sequence", models.BigIntegerField(editable=False)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("diverged", "an entry the hub holds came with another hash"),
                            ("unlinked", "the next entry does not follow the hub's newest"),
                            ("rewound", "the device's chain ends before the hub's newest entry"),
                            (
                                "reissued",
                                "a new registration code was issued: the chain starts anew",
                            ),
                        ],
                        editable=False,
                        max_length=16,
                    ),
                ),
                ("reason", models.CharField(editable=False, max_length=1000)),
                ("hub_hash", models.CharField(editable=False, max_length=64)),
                ("device_hash", models.CharField(editable=False, max_length=64)),
                ("detected_at", models.DateTimeField(auto_now_add=True)),
                ("acknowledged_at", models.DateTimeField(editable=False, null=True)),
                ("acknowledged_by", models.CharField(blank=True, editable=False, max_length=200)),
                ("acknowledged_note", models.TextField(blank=True, editable=False)),
                (
                    "device",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="audit_breaks",
                        to="hub.device",
                    ),
                ),
            ],
            options={
                "ordering": ("-detected_at",),
                "permissions": (
                    (
                        "acknowledge_auditbreak",
                        "Can acknowledge an audit break (the device's chain goes on as a new "
                        "segment)",
                    ),
                ),
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("acknowledged_at__isnull", True)),
                        fields=("device",),
                        name="audit_break_one_open",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditChainState",
            fields=[
                (
                    "device",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="audit_state",
                        serialize=False,
                        to="hub.device",
                    ),
                ),
                ("batch_number", models.BigIntegerField(default=0)),
                ("reported_sequence", models.BigIntegerField(default=0)),
                ("reported_at", models.DateTimeField(null=True)),
                ("anchored_sequence", models.BigIntegerField(default=0)),
            ],
            options={"verbose_name": "audit chain state"},
        ),
        migrations.RunSQL(FORBID_CHANGES, ALLOW_CHANGES),
    ]
