"""One export's ``corrections.csv`` read into :class:`Correction` values, one per fish.

A row names a photo and its confirmed species (and optionally a group and a crop box), or
retracts an observation (``not_a_fish`` or ``conflicting`` 1, no file, no species). A
species name becomes the pack's id where a species pack knows it (``pack_names``), else a
folder name made from it. A row's ``pack_version`` (the pack whose prediction was reviewed)
is kept: ``--add-to`` asks that pack what a species DATA has no folder for may be
(``new_species``). Each row is checked as it is read; a fish given two verdicts in
one CSV is an error naming both rows.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from inference.fish.csv_files import by_heading, read_csv, spreadsheet_text
from inference.fish.errors import DatasetError
from inference.fish.pack import load_pack
from inference.fish.types import Species, species_key

_SLUG = re.compile(r"[^a-z0-9]+")
CROP_COLUMNS = ("crop_x", "crop_y", "crop_w", "crop_h")
# A 1 in either makes a row a retraction: "not a fish", or a photo left out as conflicting.
# (A device's export may give one observation both: they agree.)
RETRACTING = ("not_a_fish", "conflicting")
Box = tuple[int, int, int, int]  # x, y, width, height in the photo's pixels
SOURCES = ("device", "hub")  # exported_from, lowest rank first: the hub's verdict outranks


class Written(NamedTuple):
    """When an export was written, as its rows say: orders verdicts (``export_order``)."""

    rank: int  # SOURCES' index
    at: datetime

    def cells(self) -> tuple[str, str]:
        return self.at.isoformat(), SOURCES[self.rank]


def written(at: str, source: str, where: str) -> Written | None:
    """``exported_at``/``exported_from`` read back; None for an export without them. Any ISO
    8601 time is taken (one Excel rewrote without its zone reads as UTC)."""
    if not at.strip():
        return None
    try:
        moment = datetime.fromisoformat(at.strip())
    except ValueError:
        raise DatasetError(
            f"{where}: exported_at {at!r} is not a time; put back the export's own value"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    rank = SOURCES.index("hub") if source.strip().casefold() == "hub" else 0
    return Written(rank, moment)


def later(first: Written | None, second: Written | None) -> bool:
    """``first`` known to be written after ``second``: an export without a time was written
    before any with one, and two without are ordered by the caller."""
    return first is not None and (second is None or first > second)


@dataclass(frozen=True)
class Correction:
    source: Path
    species_id: str
    species_name: str
    group: str
    crop: Box | None = None  # None: the whole photo
    row: str = ""  # where it came from, for errors: "corrections.csv row 3"
    observation: str = ""  # the exports' observation_uid, where the CSV has one
    retracted: str = ""  # a retraction row's reason (RETRACTING): no image, drops a label
    written: Written | None = None  # the export's time and source (``export_order``)
    photo_sha256: str = ""  # a retraction row's photo, where the export wrote it
    pack_version: str = ""  # the pack whose prediction was reviewed, where the row names it

    @property
    def verdict(self) -> str:
        return self.retracted.replace("_", " ") or f"{self.species_id} in {self.group}"

    def fish(self) -> tuple[str, ...]:
        """What identifies the fish: its observation where known (the same observation in
        two overlapping exports is one fish, though its photo was written twice), else its
        photo and box."""
        return (
            ("observation", self.observation)
            if self.observation
            else ("photo", str(self.source), str(self.crop))
        )

    def target_name(self) -> str:
        """Photos from several devices can share a name, and one photo can hold several
        fish: a digest of the path (and the box) keeps them apart."""
        key = str(self.source) if self.crop is None else f"{self.source}#{self.crop}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        if self.crop is None:
            return f"{self.source.stem}-{digest}{self.source.suffix.lower()}"
        x, y, width, height = self.crop
        return f"{self.source.stem}-{x}_{y}_{width}x{height}-{digest}.png"


def read_export(
    corrections_csv: Path, base: Path | None, names: dict[str, Species]
) -> list[Correction]:
    rows = _read_rows(corrections_csv)
    return _distinct([
        _correction(row, base or corrections_csv.parent, names, f"{corrections_csv.name} row {n}")
        for n, row in enumerate(rows, start=2)  # row 1 is the header
    ])  # fmt: skip


def _distinct(corrections: list[Correction]) -> list[Correction]:
    """One training image per fish (``Correction.fish``): a repeated row counts once, and a
    fish confirmed as two species, or in two groups, is an error naming both rows."""
    first: dict[tuple[str, ...], Correction] = {}
    for item in corrections:
        seen = first.setdefault(item.fish(), item)
        if seen.verdict != item.verdict and not (seen.retracted and item.retracted):
            raise DatasetError(
                f"{seen.row} and {item.row} give {_named(seen, item)} as "
                f"{seen.verdict} and as {item.verdict}; keep the right one"
            )
    return list(first.values())


def _named(*rows: Correction) -> str:
    """The fish two rows give: its photo and box, or (where one is a retraction, which
    names no photo) its observation."""
    for item in rows:
        if not item.retracted:
            return f"{item.source} (box {item.crop})"
    return f"observation {rows[0].observation}"


def pack_names(species_pack: Path | None) -> dict[str, Species]:
    """Known names and ids (by ``species_key``) -> the pack's species, so corrections reuse
    its ids."""
    if species_pack is None:
        return {}
    pack = load_pack(species_pack)
    known = pack.species + pack.held_out
    return {species_key(s.name): s for s in known} | {species_key(s.id): s for s in known}


def _read_rows(path: Path) -> list[dict[str, str]]:
    """Its rows, by heading; a cell beyond the header or under a blank heading is refused
    (``csv_files``: a name's comma), while a named column it does not read is passed over."""
    header, lines = read_csv(path, "a corrections file")
    if not {"file", "confirmed_species"} <= set(header):
        raise DatasetError(f"{path} needs the columns file,confirmed_species[,group]")
    rows = by_heading(path, header, lines)  # the export's escapes taken off (csv_files)
    return [{name: spreadsheet_text(cell) for name, cell in row.cells.items()} for row in rows]


def _correction(
    row: dict[str, str], base: Path, names: dict[str, Species], where: str
) -> Correction:
    for reason in RETRACTING:
        if (row.get(reason) or "").strip() == "1":
            return _retraction(row, where, reason)
    # NFC: the name species.csv keeps for a species typed in several Unicode forms
    name = unicodedata.normalize("NFC", " ".join((row.get("confirmed_species") or "").split()))
    file = (row.get("file") or "").strip()
    if not name or not file:
        raise DatasetError(f"a correction needs a file and a confirmed species: {row}")
    source = Path(file) if Path(file).is_absolute() else base / file
    known = names.get(species_key(name))
    species_id = known.id if known else _SLUG.sub("_", species_key(name)).strip("_")
    if not species_id:
        raise DatasetError(f"{name!r} cannot be turned into a folder name")
    group = (row.get("group") or "").strip() or f"file:{file}"
    crop = _crop(row, where)
    observation = (row.get("observation_uid") or "").strip()
    return Correction(
        source, species_id, known.name if known else name, group, crop, where, observation,
        written=_written(row, where), pack_version=(row.get("pack_version") or "").strip(),
    )  # fmt: skip


def _written(row: dict[str, str], where: str) -> Written | None:
    return written(row.get("exported_at") or "", row.get("exported_from") or "", where)


def _retraction(row: dict[str, str], where: str, reason: str) -> Correction:
    """A not-a-fish or conflicting row: it names the observation whose earlier label it
    drops."""
    observation = (row.get("observation_uid") or "").strip()
    if not observation:
        raise DatasetError(f"{where}: a {reason} row needs the observation_uid it retracts")
    return Correction(
        Path(), "", "", "", _crop(row, where), where, observation, retracted=reason,
        written=_written(row, where), photo_sha256=(row.get("photo_sha256") or "").strip().lower(),
    )  # fmt: skip


def _crop(row: dict[str, str], where: str) -> Box | None:
    """The row's box: four whole numbers (x, y >= 0; width, height >= 1), or none at all."""
    texts = [(row.get(column) or "").strip() for column in CROP_COLUMNS]
    if not any(texts):
        return None
    try:
        x, y, width, height = (int(text) for text in texts)
    except ValueError:
        raise DatasetError(
            f"{where}: crop_x,crop_y,crop_w,crop_h must be four whole numbers or all empty,"
            f" got {','.join(texts)!r}"
        ) from None
    if min(x, y) < 0 or min(width, height) < 1:
        raise DatasetError(f"{where}: crop {x},{y},{width},{height} is not a box in a photo")
    return (x, y, width, height)
