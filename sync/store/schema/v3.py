"""Schema version 3: the outbox counts the hub's retryable refusals of each entry.

``attempts`` counts every send, including those whose answer was lost while the device was
offline; the client's cap on retryable refusals (``Tuning.max_retryable_attempts``) must count
only the hub's answers, or a device back from days offline would quarantine an entry on its
first passing lock timeout.
"""

SQL = """
ALTER TABLE outbox ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0 CHECK (refusals >= 0);
"""
