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
"""
