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
move before this version stamped none). ``hub.with_since`` (``sync_state``) says from when
the store knows: when it was upgraded, or "" for a store that held nothing then (a new
one). A move holds what the store cannot vouch for as of no known hub (``UNKNOWN_HUB``).
"""

SQL = """
ALTER TABLE fish_observations ADD COLUMN for_hub TEXT;
INSERT INTO sync_state (name, value, updated_at)
    SELECT 'hub.with_since', CASE
        WHEN EXISTS (SELECT 1 FROM fish_observations) OR EXISTS (SELECT 1 FROM outbox)
            OR EXISTS (SELECT 1 FROM access_events) THEN stamp ELSE '' END, stamp
    FROM (SELECT strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z' AS stamp);
"""
