"""Schema version 19: an access event says when the kiosk's clock was judged wrong.

A kiosk judges its clock at start and while it runs (``desktop.kiosk.clock_watch``), and
records each decision at the time its clock reads all the same: a time put in its place would
be a guess. Before this version nothing in the record said so: a decision dated 2000 by a
clock a flat RTC battery reset looked as good as any other, in the store, its audit entry and
on the hub. ``clock_suspect`` holds why the clock was judged wrong when the decision was
made (the warning the kiosk showed); NULL: it was not judged wrong (and every event recorded
before this version). It is one of the event's own columns: append-only as the others
(schema 18's trigger, made again to name it).
"""

SQL = """
ALTER TABLE access_events ADD COLUMN clock_suspect TEXT;
DROP TRIGGER access_events_no_update;
CREATE TRIGGER access_events_no_update BEFORE UPDATE OF
    id, event_uid, occurred_at, site, device, decision, person_uid, similarity, liveness,
    created_at, clock_suspect
ON access_events
BEGIN SELECT RAISE(ABORT, 'access events are append-only: only their sync stamps change'); END;
"""
