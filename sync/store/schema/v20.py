"""Schema version 20: a pulled catch whose photo the store lacks says which photo it is on.

Photos never travel in pulls: a catch pulled into a store without its photo had
``photo_id`` NULL, and nothing here said which photo the hub has it on. A catch this device
recorded, lost from the store by a restore of a backup taken before it and pulled back,
could then not be told from its Catch panel spool entry (the photo's uid is the entry's),
when the entry was kept by a Jaga before entries carried their observation uids: the
entry's Retry recorded the catch a second time. ``pulled_photo_uid`` is the photo's uid as
the pull named it, while the store lacks that photo (``sync.store.pulled_photos``); NULL
once the photo is put in (from the spool entry) and for every catch pulled before this
version, which the next pull of a change of it names.
"""

SQL = """
ALTER TABLE fish_observations ADD COLUMN pulled_photo_uid TEXT;
CREATE INDEX fish_observations_pulled_photo ON fish_observations (pulled_photo_uid)
    WHERE pulled_photo_uid IS NOT NULL;
"""
