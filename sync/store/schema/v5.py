"""Schema version 5: which fish in the photo an observation is about.

One photo taken on deck often holds several fish; each is classified on its own box and
recorded as its own observation, all sharing the photo. ``crop_x``, ``crop_y``, ``crop_w``
and ``crop_h`` on ``fish_observations`` are that box in the photo's pixels (all four, or
none: NULL is the whole photo, as every row made before version 5 was). It travels with
protocol 3.
"""

SQL = """
ALTER TABLE fish_observations ADD COLUMN crop_x INTEGER;
ALTER TABLE fish_observations ADD COLUMN crop_y INTEGER;
ALTER TABLE fish_observations ADD COLUMN crop_w INTEGER;
ALTER TABLE fish_observations ADD COLUMN crop_h INTEGER;
"""
