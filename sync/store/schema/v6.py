"""Schema version 6: the audit log refuses an insert over an existing entry.

Version 1's triggers refuse UPDATE and DELETE, but ``INSERT OR REPLACE`` (``REPLACE INTO``)
deletes the old row without firing a delete trigger (SQLite fires none for a REPLACE unless
recursive triggers are on), so plain SQL could rewrite an entry and then recompute the chain
after it. An insert must now come after the last entry.
"""

SQL = """
CREATE TRIGGER audit_log_append_only BEFORE INSERT ON audit_log
WHEN NEW.sequence <= (SELECT coalesce(max(sequence), 0) FROM audit_log)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
