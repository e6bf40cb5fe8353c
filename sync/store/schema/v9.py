"""Schema version 9: whether this device knows the fish's box of an observation.

NULL crop columns (schema 5) are the whole photo, but a device can hold an observation
without ever having been told its box: pulled while it spoke protocol 2, which does not
carry the box (the row then became "the whole photo" at version 5), or from a change the
hub logged before it knew boxes. ``crop_known`` is 0 for those, so the device's own edits
(an officer's confirmation) leave the box out instead of resetting it to the whole photo on
the hub and every device; a pulled change that carries the box sets it to 1.

Every row without a box is taken as not known here: which of them were pulled cannot be
told apart now. That costs nothing for the device's own catches: the box is sent when a
catch is recorded (that outbox payload is already written) and never edited on the device
after, so leaving it out of a later edit leaves the hub's copy, the same box, as it is.
The corrections export (``sync.store.corrections``) still takes a catch without a known box
as the whole photo when it is its photo's only observation, or when the outbox entry this
device queued as it recorded the catch says the whole photo; on a photo of several it leaves
the others out (the hub's export has the box).
"""

SQL = """
ALTER TABLE fish_observations ADD COLUMN crop_known INTEGER NOT NULL DEFAULT 1
    CHECK (crop_known IN (0, 1));
UPDATE fish_observations SET crop_known = 0 WHERE crop_x IS NULL;
"""
