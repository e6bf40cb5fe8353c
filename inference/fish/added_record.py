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
ordered by when they were added, as before. The times are written as the exports write
them (``20261130T080000.000000Z``: a form a spreadsheet keeps as text); the extended form
earlier releases wrote (``2026-11-30T08:00:00+00:00``) is read too.

It is opened in spreadsheets as the exports are, so it is written as they are: every cell
quoted, and a cell a spreadsheet would run as a formula (an observation uid or a folder
beginning ``=``, ``+``, ``-``, ``@``...) with an apostrophe first, which the reader takes
off (``csv_files.spreadsheet_cell``). A record an earlier release wrote reads as it did, but
a cell it wrote beginning ``'=`` or ``''``, which reads one apostrophe shorter.

A row also keeps the picture the image was made from (its photo's ``photo_sha256`` and box):
a "not a fish" row naming that picture takes back every copy of it (a byte-identical photo
uploaded under another photo id), as when the exports are given together. ``--out`` writes
the record as ``--add-to`` does, so a folder it made can have its photos taken back.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from inference.fish.correction_rows import Box, Correction, Written, later, written
from inference.fish.csv_files import spreadsheet_cell, spreadsheet_text
from inference.fish.errors import DatasetError
from inference.pack.files import replace_durably
from inference.plural import counted

RECORD_CSV = "added-corrections.csv"
_HEADER = (
    "file", "observation_uid", "sha256", "exported_at", "exported_from",
    "photo_sha256", "crop_x", "crop_y", "crop_w", "crop_h",
)  # fmt: skip
_SHOWN = 5  # observations named in one note
Picture = tuple[str, Box | None]  # a photo's sha256 and the box of it; None: the whole photo


class Recorded(NamedTuple):
    file: str  # relative to DATA, with "/"; "" for an observation taken back
    observation: str
    sha256: str
    exported_at: str = ""  # when the export giving this verdict was written; "" unknown
    exported_from: str = ""
    photo_sha256: str = ""  # the picture the image was made from; "" in records before it
    crop_x: str = ""
    crop_y: str = ""
    crop_w: str = ""
    crop_h: str = ""

    @property
    def written(self) -> Written | None:
        return written(self.exported_at, self.exported_from, RECORD_CSV)

    @property
    def picture(self) -> Picture:
        """Its photo and box; a row without them is of a whole photo or a crop (before the
        columns): its own sha256 is then its photo's, or matches no photo."""
        if not self.photo_sha256:
            return (self.sha256, None)
        cells = (self.crop_x, self.crop_y, self.crop_w, self.crop_h)
        x, y, width, height = (int(cell) for cell in cells) if all(cells) else (0, 0, 0, 0)
        return (self.photo_sha256, (x, y, width, height) if all(cells) else None)


def recorded(
    file: str,
    observation: str,
    sha256: str,
    when: Written | None,
    picture: Picture | None = None,
) -> Recorded:
    stamp = (_stamp(when), ("device", "hub")[when.rank]) if when else ("", "")
    photo, box = picture or ("", None)
    return Recorded(file, observation, sha256, *stamp, photo, *(str(n) for n in box or ("",) * 4))


def _stamp(when: Written) -> str:
    """The exports' own form (``sync.corrections.stamp_text``), which a spreadsheet keeps."""
    return when.at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def read_record(data: Path) -> list[Recorded]:
    """The record's rows; none where the add never recorded anything (DATA made before). A
    time a spreadsheet rewrote is refused here, naming the file and its line."""
    path = data / RECORD_CSV
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    record = [Recorded(*map(spreadsheet_text, row[:10])) for row in rows if len(row) >= 3]
    for line, row in enumerate(record, start=2):
        try:
            _ = row.written, row.picture
        except (DatasetError, ValueError):
            raise DatasetError(
                f"{path}, line {line}: exported_at {row.exported_at!r} or the box"
                f" {row.crop_x},{row.crop_y},{row.crop_w},{row.crop_h} is not as --add-to"
                " wrote it (a spreadsheet rewrote it?); write the time back as"
                " 20261130T080000.000000Z (UTC), or empty the cell, whose row then counts as"
                " written before every export that has a time"
            ) from None
    return record


def write_record(
    data: Path,
    rows: Iterable[Recorded],
    replace: Callable[[Path, Path], None] = replace_durably,
) -> None:
    """Written aside, flushed and renamed into place (by ``replace``: an add's journal
    notes what it wrote), so a failure or a power cut leaves the record before or after,
    whole."""
    temporary = data / f".{RECORD_CSV}.adding"
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)  # as the exports (see the module)
        writer.writerow(_HEADER)
        writer.writerows([spreadsheet_cell(cell) for cell in row] for row in sorted(set(rows)))
    replace(temporary, data / RECORD_CSV)


def kept_out(record: list[Recorded], chosen: list[Correction]) -> list[Correction]:
    """``chosen`` without the fish a retraction added before was written after: an older
    export added later does not put back what a newer one took back."""
    taken = {row.observation: row.written for row in record if not row.file}
    return [
        item
        for item in chosen
        if not (item.observation in taken and later(taken[item.observation], item.written))
    ]


def not_refused(
    record: list[Recorded], chosen: list[Correction], say: Callable[[str], None]
) -> list[Correction]:
    """``chosen`` without the copies of a picture a "not a fish" added before named under
    another observation (a byte-identical upload), each named: left out as conflicting, as
    when the exports are given together."""
    refused = {row.picture: row.observation for row in record if not row.file and row.photo_sha256}
    if not refused:
        return chosen
    kept = []
    for item in chosen:
        other = refused.get(picture(item))
        if other is not None and other != item.observation:
            say(
                f"left out as conflicting: {item.source} holds the picture {other} was"
                f" answered not a fish for ({RECORD_CSV})"
            )
        else:
            kept.append(item)
    return kept


def new_set_record(
    out: Path,
    chosen: list[Correction],
    retracted: dict[str, Written | None],
    pictures: dict[str, Picture],
) -> list[Recorded]:
    """The record of a set ``--out`` wrote: each of its images, as ``--add-to`` records
    them, and the observations its exports took back."""
    rows = [
        recorded(f, item.observation, digest(out / f), item.written, picture(item))
        for item in chosen
        if item.observation
        for f in [f"{item.species_id}/{item.target_name()}"]
    ]
    return rows + [
        recorded("", observation, "", when, pictures.get(observation))
        for observation, when in retracted.items()
    ]


def picture(item: Correction) -> Picture:
    return (digest(item.source), item.crop)


def taken_back(
    data: Path,
    record: list[Recorded],
    retracted: dict[str, Written | None],
    pictures: dict[str, Picture],
    say: Callable[[str], None],
) -> tuple[list[str], list[Recorded]]:
    """The images to remove for the ``retracted`` observations and the copies of the
    ``pictures`` they refuse (but those an add recorded from an export written after the
    retraction, each named), and the record with those observations as taken back."""
    copies = _copies(record, retracted, pictures)
    labelled = {row.observation: row.written for row in record if row.file}
    going = {}
    for observation, when in (copies | retracted).items():
        if observation in labelled and later(labelled[observation], when):
            say(_overruled(observation, labelled[observation], when))
        else:
            going[observation] = when
    _name_unlisted(record, going, pictures, say)
    left = [row for row in record if row.observation not in going]
    standing = {row.file for row in left if row.file}  # still labelled by another observation
    gone = sorted({row.file for row in record if row.file and row.observation in going} - standing)
    sha256 = {row.file: row.sha256 for row in record}
    left += [
        recorded("", observation, "", when, pictures.get(observation))
        for observation, when in going.items()
    ]
    return [file for file in gone if _ours(data, file, sha256[file], say)], left


def _copies(
    record: list[Recorded], retracted: dict[str, Written | None], pictures: dict[str, Picture]
) -> dict[str, Written | None]:
    """The recorded observations whose picture a "not a fish" names under another photo id
    (a byte-identical upload), each with that retraction's time: given together, the two
    would leave the picture out as conflicting."""
    by_picture = {picture: observation for observation, picture in pictures.items()}
    return {
        row.observation: retracted.get(by_picture[row.picture])
        for row in record
        if row.file and row.picture in by_picture and row.observation not in retracted
    }


def _overruled(observation: str, label: Written | None, retraction: Written | None) -> str:
    why = (
        "a hub export outranks a device's (the device's answer reaches training through the"
        " next hub export after it syncs)"
        if label and retraction and label.rank > retraction.rank
        else "the label was written after the retraction"
    )
    return (
        f"{observation}: not taken back: its photo was added from {_when(label)}, the"
        f" retraction is from {_when(retraction)}; {why}"
    )


def _when(moment: Written | None) -> str:
    if moment is None:
        return "an export without a time"
    return f"a {('device', 'hub')[moment.rank]} export of {moment.at:%Y-%m-%d %H:%M} UTC"


def _name_unlisted(
    record: list[Recorded],
    going: dict[str, Written | None],
    pictures: dict[str, Picture],
    say: Callable[[str], None],
) -> None:
    """A retraction of a photo the record does not list (nor a copy of its picture) takes
    nothing back: the photo may be the user's own, or added before the record existed."""
    listed = {row.observation for row in record}
    copied = {row.picture for row in record if row.file}
    unlisted = sorted(
        observation
        for observation in going
        if observation not in listed and pictures.get(observation) not in copied
    )
    if not unlisted:
        return
    more = f" and {len(unlisted) - _SHOWN} more" if len(unlisted) > _SHOWN else ""
    say(
        f"no photo {RECORD_CSV} lists matches {counted(len(unlisted), 'catch', 'catches')}"
        f" taken back, so nothing was removed: {', '.join(unlisted[:_SHOWN])}{more}; most"
        " were never added, but a photo of one in DATA (your own, or added before this"
        " release) stays: remove it by hand, with its groups.csv row"
    )


def _ours(data: Path, file: str, sha256: str, say: Callable[[str], None]) -> bool:
    """The file is inside a species folder of DATA and still holds the bytes the add wrote."""
    relative = PurePosixPath(file)
    if relative.is_absolute() or ".." in relative.parts or len(relative.parts) < 2:
        return False  # a hand-edited record never reaches outside DATA
    path = data / relative
    if not path.is_file() or path.is_symlink():
        return False
    if digest(path) != sha256:
        say(f"kept {file}: taken back, but changed since it was added (remove it by hand)")
        return False
    return True


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
