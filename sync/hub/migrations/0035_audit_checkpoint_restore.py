"""The anchored checkpoint's triggers (0030) read the audit tables whatever the session's
``search_path``, and say what a data-only restore runs into.

``pg_restore`` empties ``search_path`` while it loads data: a trigger that named the tables
unqualified then failed with "relation hub_anchoredauditentry does not exist". Each function
now runs on the schema the audit tables resolved to as the hub migrated, then ``pg_temp``:
the schema by name, not the setting (``SET ... FROM CURRENT`` would keep ``"$user"``, which
in a restore means the superuser restoring, not the hub's role whose schema holds the tables,
PostgreSQL 15's advice), and ``pg_temp`` last, which PostgreSQL otherwise searches first, so
a session's temporary table named as the checkpoints' cannot stand in for them.

A restore of the data alone into a schema that has the triggers (``pg_restore --schema-only``
then ``--data-only``) inserts each checkpoint after retention deleted the entries up to it,
which is what the triggers refuse to anyone: a checkpoint is only ever written before the
entries it passes are deleted, and letting one in without them would let anyone claim a
prefix was deleted. That refusal is kept, now in words that name the restore to use instead
(the whole dump, which makes the triggers after the data, as README's restore does; or the
data with ``--disable-triggers``, as the superuser). It refuses nothing 0030 let through, so
migrating back keeps the new words and only resets the functions' ``search_path``."""
# ruff: noqa: RUF012

from __future__ import annotations

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION hub_audit_checkpoint_forward() RETURNS trigger AS $$
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
    IF TG_OP = 'INSERT' AND NOT EXISTS (
            SELECT 1 FROM hub_anchoredauditentry e WHERE e.device_id = NEW.device_id
            AND e.segment = NEW.segment AND e.sequence <= NEW.sequence) THEN
        RAISE EXCEPTION 'an anchored audit checkpoint is written only before the entries it '
            'passes are deleted; none of device %, segment %, up to entry % is held: a '
            'data-only restore into a schema with its triggers cannot bring it back',
            NEW.device_id, NEW.segment, NEW.sequence
            USING HINT = 'restore the whole dump (pg_restore --clean --if-exists '
            '--single-transaction), which makes the triggers after the data, or restore '
            'the data with --disable-triggers as PostgreSQL''s superuser';
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
DO $$
DECLARE
    tables name := (SELECT relnamespace::regnamespace::name FROM pg_class
                    WHERE oid = 'hub_anchoredauditentry'::regclass);
BEGIN
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp',
                   'hub_audit_checkpoint_forward()'::regprocedure, tables);
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp',
                   'hub_audit_entry_prefix_only()'::regprocedure, tables);
END;
$$;
"""

BACK = """
ALTER FUNCTION hub_audit_checkpoint_forward() RESET search_path;
ALTER FUNCTION hub_audit_entry_prefix_only() RESET search_path;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("hub", "0034_decision_purge_held_chains"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACK),
    ]
