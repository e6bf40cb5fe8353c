"""Schema version 18: access events are append-only, as the audit log is.

An access event is what the attendance export (``jaga store export access-events``), the
sync and the hub read of a decision; its ``access.decision`` audit entry, written in the same
transaction (``sync.store.access``), is only in the chain. Before this version a plain
``UPDATE access_events SET decision = 'verified' ...`` rewrote a printed photo's
``spoof_detected`` as someone's entry, and nothing refused it. Now SQL can change only the
sync's stamps on an event, ``held_since`` (``Outbox.settle``, ``sync.store.resend``) and
``for_hub`` (``sync.store.outbox_hub``), and delete only what retention may
(``sync.store.retention``): an event the hub acknowledged, with no outbox entry of it left
unacknowledged. The events' own columns are never set again; ``INSERT OR REPLACE`` over an
event (which deletes the old row without firing the delete trigger) is refused as well, as
schema 6 does for the audit log. An erasure leaves events as they are (they keep only the
person's uid). Whoever holds the key can drop the triggers: ``jaga audit verify`` checks each
event against its entry (``sync.store.event_audit``).
"""

SQL = """
CREATE TRIGGER access_events_no_update BEFORE UPDATE OF
    id, event_uid, occurred_at, site, device, decision, person_uid, similarity, liveness,
    created_at
ON access_events
BEGIN SELECT RAISE(ABORT, 'access events are append-only: only their sync stamps change'); END;
CREATE TRIGGER access_events_no_delete BEFORE DELETE ON access_events
WHEN OLD.held_since IS NULL OR EXISTS (
    SELECT 1 FROM outbox x WHERE x.entity = 'access_event'
    AND x.entity_uid = OLD.event_uid AND x.state != 'acknowledged'
)
BEGIN SELECT RAISE(ABORT, 'access events are append-only: retention deletes those the hub holds');
END;
CREATE TRIGGER access_events_append_only BEFORE INSERT ON access_events
WHEN EXISTS (SELECT 1 FROM access_events WHERE event_uid = NEW.event_uid OR id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'access events are append-only'); END;
"""
