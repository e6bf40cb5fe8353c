"""An anchored chain may lose a segment's prefix, up to a checkpoint that only moves forward
(``sync.hub.models.audit.AnchoredCheckpoint``; the device's schema 12 on SQLite,
``sync.store.schema.v12``, does the same). UPDATE and TRUNCATE of the entries stay refused;
DELETE is let through only at or before the checkpoint of the entry's segment. Migrating
back is refused while any checkpoint is held (``keep_checkpoints``)."""
# ruff: noqa: RUF012

from __future__ import annotations

import django.db.models.deletion
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.exceptions import IrreversibleError

GUARD = """
CREATE FUNCTION hub_audit_checkpoint_forward() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the anchored audit checkpoint only moves forward (checkpoint %)',
            OLD.id;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.device_id <> OLD.device_id OR NEW.segment <> OLD.segment
        OR NEW.first_sequence <> OLD.first_sequence OR NEW.first_hash <> OLD.first_hash
        OR NEW.sequence <= OLD.sequence) THEN
        RAISE EXCEPTION 'the anchored audit checkpoint only moves forward (checkpoint %)',
            OLD.id;
    END IF;
    IF TG_OP = 'INSERT' AND (
        NOT EXISTS (
            SELECT 1 FROM hub_anchoredauditentry e WHERE e.device_id = NEW.device_id
            AND e.segment = NEW.segment AND e.sequence = NEW.first_sequence
            AND e.entry_hash = NEW.first_hash)
        OR EXISTS (
            SELECT 1 FROM hub_anchoredauditentry e WHERE e.device_id = NEW.device_id
            AND e.segment = NEW.segment AND e.sequence < NEW.first_sequence)
        OR NEW.sequence < NEW.first_sequence) THEN
        RAISE EXCEPTION 'an anchored audit checkpoint starts at its segment''s first entry';
    END IF;
    IF NOT EXISTS (
            SELECT 1 FROM hub_anchoredauditentry e WHERE e.device_id = NEW.device_id
            AND e.segment = NEW.segment AND e.sequence = NEW.sequence
            AND e.entry_hash = NEW.entry_hash)
        OR NEW.sequence >= (
            SELECT max(e.sequence) FROM hub_anchoredauditentry e
            WHERE e.device_id = NEW.device_id AND e.segment = NEW.segment) THEN
        RAISE EXCEPTION 'the anchored audit checkpoint only moves to an entry held before '
            'its segment''s newest';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER hub_audit_checkpoint_forward BEFORE INSERT OR UPDATE OR DELETE
    ON hub_anchoredcheckpoint FOR EACH ROW EXECUTE FUNCTION hub_audit_checkpoint_forward();
CREATE FUNCTION hub_audit_checkpoint_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the anchored audit checkpoint only moves forward (TRUNCATE refused)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER hub_audit_checkpoint_no_truncate BEFORE TRUNCATE ON hub_anchoredcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION hub_audit_checkpoint_no_truncate();

DROP TRIGGER hub_audit_entry_no_change ON hub_anchoredauditentry;
CREATE TRIGGER hub_audit_entry_no_update BEFORE UPDATE ON hub_anchoredauditentry
    FOR EACH ROW EXECUTE FUNCTION hub_audit_entry_append_only();
CREATE FUNCTION hub_audit_entry_prefix_only() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM hub_anchoredcheckpoint c WHERE c.device_id = OLD.device_id
        AND c.segment = OLD.segment AND OLD.sequence <= c.sequence) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'anchored audit entries are append-only (entry %): only a prefix up to '
        'its segment''s checkpoint may be deleted', OLD.id;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER hub_audit_entry_no_delete BEFORE DELETE ON hub_anchoredauditentry
    FOR EACH ROW EXECUTE FUNCTION hub_audit_entry_prefix_only();
"""

UNGUARD = """
DROP TRIGGER hub_audit_entry_no_delete ON hub_anchoredauditentry;
DROP FUNCTION hub_audit_entry_prefix_only();
DROP TRIGGER hub_audit_entry_no_update ON hub_anchoredauditentry;
CREATE TRIGGER hub_audit_entry_no_change BEFORE UPDATE OR DELETE ON hub_anchoredauditentry
    FOR EACH ROW EXECUTE FUNCTION hub_audit_entry_append_only();
DROP TRIGGER hub_audit_checkpoint_no_truncate ON hub_anchoredcheckpoint;
DROP FUNCTION hub_audit_checkpoint_no_truncate();
DROP TRIGGER hub_audit_checkpoint_forward ON hub_anchoredcheckpoint;
DROP FUNCTION hub_audit_checkpoint_forward();
"""


def keep_checkpoints(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Refuse to migrate back while any checkpoint is held: dropping them would lose the
    only record of the prefixes retention deleted, and of each segment's first entry (by
    which a store back after a new registration code is known), while the triggers that
    come back would hold the chains as they are."""
    held = apps.get_model("hub", "AnchoredCheckpoint").objects.using(schema_editor.connection.alias)
    if count := held.count():
        raise IrreversibleError(
            f"the hub holds {count} anchored audit checkpoint{'' if count == 1 else 's'}"
            " (decision retention deleted a prefix of those chains): migrating back before"
            " 0030 would drop them and the record of what was deleted; restore a backup"
            " taken before this migration instead"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0029_decision_retention_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="AnchoredCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("segment", models.IntegerField()),
                ("sequence", models.BigIntegerField()),
                ("entry_hash", models.CharField(max_length=64)),
                ("first_sequence", models.BigIntegerField()),
                ("first_hash", models.CharField(max_length=64)),
                ("moved_at", models.DateTimeField()),
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
                "ordering": ("device", "segment"),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("device", "segment"), name="audit_checkpoint_segment"
                    )
                ],
            },
        ),
        migrations.RunSQL(GUARD, UNGUARD),
        migrations.AddField(
            model_name="decisionpurge",
            name="audit_entries",
            field=models.BigIntegerField(default=0),
        ),
        # Last, so migrating back runs it first.
        migrations.RunPython(migrations.RunPython.noop, keep_checkpoints),
    ]
