"""Schema version 2: the sync client's own tables, and who reviewed a fish observation.

``sync_state`` holds the client's named values (the registration with the device token, the
pull cursor per site, the last result, the newest species pack announced); ``sync_uploads``
the outcome of each photo upload. Before version 2 the client created both itself on first
use, with exactly these definitions, so a version-1 store that has synced already holds
them, with its token and cursor: ``IF NOT EXISTS`` keeps those rows instead of failing.

``reviewed_by`` / ``reviewed_at`` on ``fish_observations`` (both NULL, or both set) record
who confirmed the species, on deck or at the hub; they travel with protocol 2.
"""

SQL = """
CREATE TABLE IF NOT EXISTS sync_state (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS sync_uploads (
    photo_uid  TEXT PRIMARY KEY,
    outcome    TEXT NOT NULL CHECK (outcome IN ('done', 'skipped', 'failed')),
    detail     TEXT NOT NULL,
    at         TEXT NOT NULL
);

ALTER TABLE fish_observations ADD COLUMN reviewed_by TEXT;
ALTER TABLE fish_observations ADD COLUMN reviewed_at TEXT;
"""
