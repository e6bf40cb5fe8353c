"""Schema version 1: people with consent, templates, photos, fish, access events, audit, outbox.

Rows carry a uuid (``*_uid``) that identifies them across devices and on the hub; the integer
ids are local. Vectors are little-endian float32 blobs whose length the table checks.
"""

SQL = """
CREATE TABLE people (
    id                   INTEGER PRIMARY KEY,
    person_uid           TEXT NOT NULL UNIQUE,
    external_id          TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    site                 TEXT NOT NULL,
    consent_text_version TEXT NOT NULL,
    consent_given_at     TEXT NOT NULL,
    consent_operator     TEXT NOT NULL,
    retain_until         TEXT NOT NULL,
    created_at           TEXT NOT NULL
);
CREATE INDEX people_retain_until ON people (retain_until);

CREATE TABLE photos (
    id          INTEGER PRIMARY KEY,
    photo_uid   TEXT NOT NULL UNIQUE,
    person_id   INTEGER REFERENCES people (id) ON DELETE CASCADE,
    media_type  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    byte_size   INTEGER NOT NULL CHECK (byte_size = length(data)),
    data        BLOB NOT NULL,
    taken_at    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX photos_person ON photos (person_id);

CREATE TABLE face_templates (
    id            INTEGER PRIMARY KEY,
    template_uid  TEXT NOT NULL UNIQUE,
    person_id     INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    model_id      TEXT NOT NULL,
    model_version TEXT NOT NULL,
    dim           INTEGER NOT NULL CHECK (dim > 0),
    vector        BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    quality       REAL NOT NULL CHECK (quality BETWEEN 0.0 AND 1.0),
    source        TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX face_templates_model ON face_templates (model_id, model_version, id);
CREATE INDEX face_templates_person ON face_templates (person_id);

CREATE TABLE fish_observations (
    id                INTEGER PRIMARY KEY,
    observation_uid   TEXT NOT NULL UNIQUE,
    observed_at       TEXT NOT NULL,
    predictions       TEXT NOT NULL,
    confirmed_species TEXT,
    needs_review      INTEGER NOT NULL CHECK (needs_review IN (0, 1)),
    photo_id          INTEGER REFERENCES photos (id) ON DELETE SET NULL,
    latitude          REAL,
    longitude         REAL,
    vessel            TEXT,
    trip              TEXT,
    haul              TEXT,
    count             INTEGER NOT NULL CHECK (count >= 1),
    length_cm         REAL,
    officer           TEXT NOT NULL,
    notes             TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX fish_observations_time ON fish_observations (observed_at);
CREATE INDEX fish_observations_review ON fish_observations (needs_review, observed_at);

CREATE TABLE access_events (
    id          INTEGER PRIMARY KEY,
    event_uid   TEXT NOT NULL UNIQUE,
    occurred_at TEXT NOT NULL,
    site        TEXT NOT NULL,
    device      TEXT NOT NULL,
    decision    TEXT NOT NULL,
    person_uid  TEXT,
    similarity  REAL,
    liveness    REAL,
    created_at  TEXT NOT NULL
);
CREATE INDEX access_events_time ON access_events (occurred_at);

CREATE TABLE audit_log (
    sequence   INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
-- Append-only for everyone who goes through SQL; the hash chain catches the rest.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE outbox (
    sequence         INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key  TEXT NOT NULL UNIQUE,
    entity           TEXT NOT NULL,
    entity_uid       TEXT NOT NULL,
    operation        TEXT NOT NULL CHECK (operation IN ('upsert', 'tombstone')),
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL
                     CHECK (state IN ('queued', 'sent', 'acknowledged', 'rejected')),
    created_at       TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    reject_reason    TEXT,
    CHECK ((state = 'rejected') = (reject_reason IS NOT NULL))
);
CREATE INDEX outbox_state ON outbox (state, sequence);
CREATE INDEX outbox_entity ON outbox (entity_uid);
"""
