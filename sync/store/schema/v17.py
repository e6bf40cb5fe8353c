"""Schema version 17: the hub a fish observation is of, and from when the store knows it.

A catch is the hub's it was pulled from, or that acknowledged it: the outbox holds the
entries of a catch recorded here for the hub they were queued for (``outbox.for_hub``,
schema 15), but a catch pulled from the hub (another boat's) has no entry, and after a
move to another hub, its review would be queued with nothing to hold it, and go to the new
hub, another organisation's, which never had the catch. So a pull stamps each catch it
writes with the hub it pulled from, and an acknowledgement each catch it takes with the
hub that took it (``sync.store.catch_hub``); an entry queued about a catch of another hub
than the registered one is held for that hub. A move stamps no catch: only then is the
hub a catch is of known.

NULL: a catch recorded here the hub has not taken yet (its entries say where it goes), or
one pulled or acknowledged before this version: nothing kept says which hub that was (a
move before this version stamped none). Two notes (``sync_state``) say from where the store
knows, by row ids, never by time (the device's clock may be set back, or far ahead, around
the upgrade): ``hub.known_after_outbox``, the newest outbox entry a hub had acknowledged at
the upgrade, and ``hub.known_after_event``, the newest access decision then (0 for a store
that held none: a new one). A move holds what the store cannot vouch for as of no known hub
(``UNKNOWN_HUB``).
"""

SQL = """
ALTER TABLE fish_observations ADD COLUMN for_hub TEXT;
INSERT INTO sync_state (name, value, updated_at)
    SELECT 'hub.known_after_outbox', coalesce(
        (SELECT max(sequence) FROM outbox WHERE state = 'acknowledged'), 0), stamp
    FROM (SELECT strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z' AS stamp);
INSERT INTO sync_state (name, value, updated_at)
    SELECT 'hub.known_after_event', coalesce((SELECT max(id) FROM access_events), 0), stamp
    FROM (SELECT strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z' AS stamp);
"""
