"""Schema version 12: the audit chain may lose a prefix the hub holds, from a checkpoint.

A kiosk appends an audit entry with every decision; kept for ever, they grow the store
without bound. Retention (``sync.store.retention``) deletes the oldest entries once the hub
has anchored them and they are older than the store's window, leaving ``audit_checkpoint``:
the sequence and hash of the last entry deleted, from which the chain still verifies (the
next entry must follow that hash). Its one row starts at entry 0, the genesis hash: nothing
deleted, the chain verified from entry 1 as before.

The triggers keep SQL to that: the checkpoint moves only forward, only to an entry that is in
the chain with that hash, and never to the newest (the head is always kept); it is never
deleted or inserted again (``INSERT OR REPLACE`` included). ``audit_log_no_delete`` now lets
through a delete only of an entry at or before the checkpoint: a prefix, nothing after it.

What retention needs to delete only what the hub has held for the whole window:

- ``access_events.held_since``: when the hub acknowledged the event (``Outbox.settle``
  stamps it; an event already acknowledged when the store is upgraded counts from the
  upgrade, an event still queued is stamped when it is acknowledged);
- ``audit_receipts``: a short history of the hub's receipts for the chain (the newest entry
  it held, and when this device heard it), at most one a day and device; ``void`` once the
  hub says it holds less (restored from a backup), kept to show the hub did hold it.

And what the entries it deletes must leave behind: ``erasure_ledger``, each erasure a
``person.erased`` entry recorded (the person's uid, the reason as typed, when), so that a
restore of an older backup still erases them again (``sync.store.erasures``) and a restored
hub is told again (``sync.store.resend``). Its rows are never changed or deleted. (The
reason, free text that may name whoever asked, is dropped by schema 13,
``sync.store.schema.v13``: the ledger keeps the uid and the time.)
"""

SQL = """
CREATE TABLE audit_checkpoint (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    sequence   INTEGER NOT NULL CHECK (sequence >= 0),
    entry_hash TEXT NOT NULL,
    at         TEXT
);
INSERT INTO audit_checkpoint (id, sequence, entry_hash, at)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', NULL);
CREATE TRIGGER audit_checkpoint_one_row BEFORE INSERT ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'the audit checkpoint only moves forward'); END;
CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'the audit checkpoint only moves forward'); END;
CREATE TRIGGER audit_checkpoint_forward BEFORE UPDATE ON audit_checkpoint
WHEN NEW.id != OLD.id
  OR NEW.sequence <= OLD.sequence
  OR NEW.sequence >= (SELECT max(sequence) FROM audit_log)
  OR NOT EXISTS (
    SELECT 1 FROM audit_log WHERE sequence = NEW.sequence AND entry_hash = NEW.entry_hash
  )
BEGIN SELECT RAISE(ABORT, 'the audit checkpoint only moves forward, to an entry before the head');
END;
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.sequence > (SELECT sequence FROM audit_checkpoint WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
ALTER TABLE access_events ADD COLUMN held_since TEXT;
UPDATE access_events SET held_since = strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'
WHERE NOT EXISTS (
    SELECT 1 FROM outbox x WHERE x.entity = 'access_event'
    AND x.entity_uid = access_events.event_uid AND x.state != 'acknowledged'
);
CREATE TABLE audit_receipts (
    device_id   TEXT NOT NULL,
    sequence    INTEGER NOT NULL,
    entry_hash  TEXT NOT NULL,
    received_at TEXT NOT NULL,
    void        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, sequence)
);
CREATE TABLE erasure_ledger (
    sequence   INTEGER PRIMARY KEY,
    person_uid TEXT NOT NULL,
    reason     TEXT NOT NULL,
    erased_at  TEXT NOT NULL
);
CREATE TRIGGER erasure_ledger_no_update BEFORE UPDATE ON erasure_ledger
BEGIN SELECT RAISE(ABORT, 'the erasure ledger is append-only'); END;
CREATE TRIGGER erasure_ledger_no_delete BEFORE DELETE ON erasure_ledger
BEGIN SELECT RAISE(ABORT, 'the erasure ledger is append-only'); END;
"""
