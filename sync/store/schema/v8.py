"""Schema version 8: the species pack's verdict on a fish observation's predictions.

``status`` on ``fish_observations`` is ``identified``, ``unknown`` (the best species scored
below the pack's open-set threshold) or ``no_fish`` (the image failed the pack's quality
gate); only ``identified`` makes the first prediction the pack's answer. ``status_reason``
says why there was no fish. Rows made before version 8 keep NULL: the verdict was not
recorded, and without that pack's thresholds nothing now can say. It travels with protocol 4.
"""

SQL = """
ALTER TABLE fish_observations ADD COLUMN status TEXT
    CHECK (status IN ('identified', 'unknown', 'no_fish'));
ALTER TABLE fish_observations ADD COLUMN status_reason TEXT;
"""
