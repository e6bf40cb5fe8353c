"""Schema version 15: an outbox entry left unsent for another hub than the registered one.

An entry belongs to the hub it was queued for. A device registered with another hub (another
organisation's, whose site may have the same slug) must never push the old hub's entries to
it: ``jaga sync register --strand-records`` stamps the entries still unsent with the old
hub (``sync.store.outbox_hub``), and a push sends only entries with none. Registered back with
that hub, the stamp is cleared and they go. NULL, every entry before this version: the hub
the device is registered with, or will first be.
"""

SQL = """
ALTER TABLE outbox ADD COLUMN for_hub TEXT;
"""
