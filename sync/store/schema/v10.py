"""Schema version 10: pulled changes set aside until they can apply here.

A pulled person whose badge another person on this device holds (and the templates pulled
for them) cannot apply yet, but may once that person is erased here or has their badge
changed. The sync client keeps such a change here, as pulled, instead of dropping it as its
cursor moves on, and tries it again with every page it pulls (``sync.client.apply``). Each
row is the newest change of one record (``entity_uid``), with the person it is about: an
erasure of that person deletes their rows (``sync.store.person_removal.remove_person``).
"""

SQL = """
CREATE TABLE deferred_changes (
    entity_uid  TEXT PRIMARY KEY,
    person_uid  TEXT NOT NULL,
    site        TEXT NOT NULL,
    cursor      INTEGER NOT NULL,
    change      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    deferred_at TEXT NOT NULL
);
CREATE INDEX deferred_changes_person ON deferred_changes (person_uid);
"""
