"""Schema version 7: the observations of a photo are found by the photo's sha256.

Recording a catch first asks whether the same photo was recorded before (``jaga catch``
run twice on one file, a record retried after an interrupt), by the sha256 every photo row
already holds; these indexes answer without reading every photo and observation row.
"""

SQL = """
CREATE INDEX photos_sha256 ON photos (sha256);
CREATE INDEX fish_observations_photo ON fish_observations (photo_id);
"""
