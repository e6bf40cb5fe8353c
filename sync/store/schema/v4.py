"""Schema version 4: which species pack made a fish observation's predictions.

``pack_version`` on ``fish_observations`` names the version of the species pack whose
classifier produced ``predictions``, so a reviewer can tell which pack erred and a data team
can compare packs or see drift after a new one reaches the devices. Rows made before version
4 keep NULL: which pack made them was not recorded, and nothing now can say. It travels with
protocol 3.
"""

SQL = """
ALTER TABLE fish_observations ADD COLUMN pack_version TEXT;
"""
