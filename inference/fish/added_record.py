"""What ``--add-to`` added to a training folder, so that a later export can take it back.

A photo's file name in DATA cannot say which observation it labels (it is the export's
photo name and a digest of its path there), and its ``groups.csv`` group is often a trip
of many fish, so the add keeps its own record: ``DATA/added-corrections.csv``, one row per
(image, observation) with the image's sha256. An image DATA already held from an earlier
add that a later export names again for another observation (the same photo, or a
byte-identical one) gains a row: it stands for both.

An image is taken back when every observation recorded for it is retracted (not a fish, or
its photo now conflicting), and only when it is still the file the add wrote (its bytes
match): a user's own photo is never in the record, and one the user replaced since stays.

Each row keeps when the export that gave its verdict was written (``exported_at``,
``exported_from``), and an observation taken back keeps a row with no file: an export
written before that retraction, added after it, does not put the photo back, and a
retraction written before the export that added a photo does not take it back. Rows of a
record written before those columns (and of exports without a time) carry none: they are
ordered by when they were added, as before.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from inference.fish.corrections import Correction, Written, later, written

RECORD_CSV = "added-corrections.csv"
_HEADER = ("file", "observation_uid", "sha256", "exported_at", "exported_from")


class Recorded(NamedTuple):
    file: str  # relative to DATA, with "/"; "" for an observation taken back
    observation: str
    sha256: str
    exported_at: str = ""  # when the export giving this verdict was written; "" unknown
    exported_from: str = ""

    @property
    def written(self) -> Written | None:
        return written(self.exported_at, self.exported_from, RECORD_CSV)


def recorded(file: str, observation: str, sha256: str, when: Written | None) -> Recorded:
    return Recorded(file, observation, sha256, *(when.cells() if when else ("", "")))


def read_record(data: Path) -> list[Recorded]:
    """The record's rows; none where the add never recorded anything (DATA made before)."""
    path = data / RECORD_CSV
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    return [Recorded(*row[:5]) for row in rows if len(row) >= 3]


def write_record(data: Path, rows: Iterable[Recorded]) -> None:
    """Written aside and renamed into place, so a failure leaves the record before."""
    temporary = data / f".{RECORD_CSV}.adding"
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_HEADER)
        writer.writerows(sorted(set(rows)))
    temporary.replace(data / RECORD_CSV)


def kept_out(record: list[Recorded], chosen: list[Correction]) -> list[Correction]:
    """``chosen`` without the fish a retraction added before was written after: an older
    export added later does not put back what a newer one took back."""
    taken = {row.observation: row.written for row in record if not row.file}
    return [
        item
        for item in chosen
        if not (item.observation in taken and later(taken[item.observation], item.written))
    ]


def taken_back(
    data: Path, record: list[Recorded], retracted: dict[str, Written | None]
) -> tuple[list[str], list[Recorded]]:
    """The images to remove for the ``retracted`` observations (but those an add recorded
    from an export written after the retraction), and the record with those observations
    as taken back."""
    labelled = {row.observation: row.written for row in record if row.file}
    going = {
        observation: when
        for observation, when in retracted.items()
        if not (observation in labelled and later(labelled[observation], when))
    }
    left = [row for row in record if row.observation not in going]
    standing = {row.file for row in left if row.file}  # still labelled by another observation
    gone = sorted({row.file for row in record if row.file and row.observation in going} - standing)
    sha256 = {row.file: row.sha256 for row in record}
    left += [recorded("", observation, "", when) for observation, when in going.items()]
    return [file for file in gone if _ours(data, file, sha256[file])], left


def _ours(data: Path, file: str, sha256: str) -> bool:
    """The file is inside a species folder of DATA and still holds the bytes the add wrote."""
    relative = PurePosixPath(file)
    if relative.is_absolute() or ".." in relative.parts or len(relative.parts) < 2:
        return False  # a hand-edited record never reaches outside DATA
    path = data / relative
    return path.is_file() and not path.is_symlink() and digest(path) == sha256


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
