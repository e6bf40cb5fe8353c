"""Schema version 11: whether a fish observation was recorded on this device or pulled.

A device pulls every boat's catches of its site; the review list on deck (the Catch panel,
``jaga store review``) is for the catches its own officers made (``recorded_here`` 1), and
shows the site's only when asked. A pull writes its new rows with 0, except a catch this
device itself sent (the change's origin is this device: it comes back after a restore from
an older backup); an edit pulled later leaves the column as it is.

The rows stored before this version are told apart by what this device queued: a catch
recorded here has an outbox entry written with its row, and the outbox keeps every fish
entry, sent or not (only an erasure of a person drops entries, and none of a catch); a pull
writes its rows without one. A pulled catch an officer confirmed here before the upgrade has
an entry too, the confirmation's, and counts as recorded here; it was reviewed here and is no
longer flagged, so the review list is the same either way.

The partial index serves the review list: flagged rows only, by origin, newest first.
"""

SQL = """
ALTER TABLE fish_observations ADD COLUMN recorded_here INTEGER NOT NULL DEFAULT 1
    CHECK (recorded_here IN (0, 1));
UPDATE fish_observations SET recorded_here = 0 WHERE NOT EXISTS (
    SELECT 1 FROM outbox x WHERE x.entity = 'fish_observation'
    AND x.entity_uid = fish_observations.observation_uid
);
CREATE INDEX fish_observations_flagged ON fish_observations (recorded_here, observed_at)
    WHERE needs_review = 1;
"""
