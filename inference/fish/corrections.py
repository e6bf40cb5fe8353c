"""``jaga fish export-training-set``: confirmed corrections -> a training folder.

The review loop's corrections live in the encrypted store (``sync``), which ``inference`` must
not import; the desktop and sync layers export them as a CSV with the columns
``file,confirmed_species`` and optionally ``group`` (a trip, day or observation id — frames or
crops of one fish must share a group so that they never straddle a split). Any other column
(the exports' provenance: ``observation_uid``, ``reviewed_by``, ``observed_at``,
``pack_version``, ``status``, ``status_reason``, and what later exports add) is passed over,
and an export without one reads the same; a non-blank cell past the header or under a blank
heading is refused, as a comma in a hand-edited name not in double quotes leaves one
(``csv_files``). This writes the species-folder
tree ``jaga fish train`` reads, with ``groups.csv`` and ``species.csv``.

A row with ``crop_x,crop_y,crop_w,crop_h`` (the fish's box, when one photo holds several
fish) becomes that box of its photo, written as a lossless PNG; a row whose crop columns
are empty stays the whole photo, copied as it is. Two fish of one photo are two training
images. Every row is checked before anything is written (the photo decodes, the box is
four whole numbers lying inside it, no fish is given two species), so a bad row is an error
naming it. The tree is written in a staging folder beside the output and renamed into place
at the end, so a failure while writing (a full disk) leaves the output folder as it was too.
A fish listed twice (the same photo and box, or the same ``observation_uid``, as in two
overlapping exports put together) is one training image. Several exports' CSVs may be given,
oldest first: a fish in two of them takes the later one's species, as the hub's newer
verdict. A row with ``not_a_fish`` 1 (no file, no species, its ``observation_uid``) retracts
that observation: a reviewer answered that its photo shows no fish, so a label an earlier CSV
gave it is dropped (until a later CSV names a species again). A row with ``conflicting`` 1
does the same for an observation whose photo the export left out because the observations
on it disagree (a later one named another species, or not a fish). A CSV holding only such
rows is read like any other; an export before a column existed has none of its rows.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2

from inference.errors import ImageError
from inference.fish.csv_files import by_heading, read_csv
from inference.fish.dataset import GROUPS_CSV, IMAGE_SUFFIXES, SPECIES_CSV
from inference.fish.errors import DatasetError
from inference.fish.images import UInt8Image, read_image
from inference.fish.pack import load_pack
from inference.fish.types import Species, species_key

_SLUG = re.compile(r"[^a-z0-9]+")
CROP_COLUMNS = ("crop_x", "crop_y", "crop_w", "crop_h")
# A 1 in either makes a row a retraction: "not a fish", or a photo left out as conflicting.
# (A device's export may give one observation both: they agree.)
RETRACTING = ("not_a_fish", "conflicting")
Box = tuple[int, int, int, int]  # x, y, width, height in the photo's pixels


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


def export_training_set(
    corrections: Path | Sequence[Path],
    out: Path,
    *,
    base: Path | None = None,
    species_pack: Path | None = None,
) -> int:
    """Copy every confirmed image into ``out/<species>/``; return how many were written.

    ``corrections`` is one CSV or several exports' CSVs, oldest first: a fish in two of them
    takes the later one's verdict (the hub's newer state), so consecutive exports that
    overlap can be given together. Within one CSV, two verdicts for a fish are an error.
    """
    if out.exists() and any(out.iterdir()):
        raise DatasetError(
            f"{out} is not empty; export into a new folder, or add to a training folder "
            "with --add-to"
        )
    chosen = read_corrections(corrections, base, pack_names(species_pack))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_tree(chosen, staging)
        staging.chmod(0o755)  # mkdtemp makes it private; training reads it
        if out.exists():
            out.rmdir()  # empty, as checked above
        staging.rename(out)
    except OSError as exc:
        raise DatasetError(f"cannot write the training set to {out}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(chosen)


class Verdicts(NamedTuple):
    chosen: list[Correction]  # one per fish, its latest verdict a species
    retracted: frozenset[str]  # observations whose latest verdict takes their label back


def read_corrections(
    corrections: Path | Sequence[Path], base: Path | None, names: dict[str, Species]
) -> list[Correction]:
    """One correction per fish, each export's CSV read in turn (oldest first, so a fish takes
    its latest verdict), every photo and box checked before anything is written."""
    verdicts = read_verdicts(corrections, base, names)
    if not verdicts.chosen:
        raise DatasetError(
            f"every fish in {_listed(corrections)} was answered not a fish; nothing to train on"
        )
    return verdicts.chosen


def read_verdicts(
    corrections: Path | Sequence[Path], base: Path | None, names: dict[str, Species]
) -> Verdicts:
    """``read_corrections``, and the observations the CSVs take back (``--add-to`` removes
    what it added for them), where every fish may be taken back."""
    csvs = [corrections] if isinstance(corrections, Path) else list(corrections)
    newest: dict[tuple[str, ...], Correction] = {}
    for csv_path in csvs:
        newest.update({item.fish(): item for item in _read_export(csv_path, base, names)})
    if not newest:  # header-only exports (a day with nothing reviewed) add nothing: alone,
        # there is nothing to train on
        raise DatasetError(
            f"{_listed(corrections)} holds no corrections"
            if len(csvs) == 1
            else f"none of {_listed(corrections)} holds a correction"
        )
    chosen = [item for item in newest.values() if not item.retracted]
    _check_images(chosen)
    retracted = frozenset(item.observation for item in newest.values() if item.retracted)
    return Verdicts(chosen, retracted)


def _listed(corrections: Path | Sequence[Path]) -> str:
    csvs = [corrections] if isinstance(corrections, Path) else list(corrections)
    return ", ".join(str(path) for path in csvs)


def _read_export(
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


def write_tree(corrections: list[Correction], out: Path) -> None:
    groups: list[tuple[str, str]] = []
    species: dict[str, str] = {}
    for item in corrections:
        target = out / item.species_id / item.target_name()
        target.parent.mkdir(parents=True, exist_ok=True)
        if item.crop is None:
            shutil.copy2(item.source, target)
        else:
            _write_png(target, cropped(read_image(item.source), item.crop))
        groups.append((f"{item.species_id}/{target.name}", item.group))
        species[item.species_id] = item.species_name
    write_csv(out / GROUPS_CSV, ("file", "group"), groups)
    write_csv(out / SPECIES_CSV, ("folder", "species"), sorted(species.items()))


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
    return [row.cells for row in by_heading(path, header, lines)]


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
        source, species_id, known.name if known else name, group, crop, where, observation
    )


def _retraction(row: dict[str, str], where: str, reason: str) -> Correction:
    """A not-a-fish or conflicting row: it names the observation whose earlier label it
    drops."""
    observation = (row.get("observation_uid") or "").strip()
    if not observation:
        raise DatasetError(f"{where}: a {reason} row needs the observation_uid it retracts")
    return Correction(Path(), "", "", "", None, where, observation, retracted=reason)


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


def cropped(image: UInt8Image, crop: Box) -> UInt8Image:
    """The box of ``image`` (which it must fit: see ``_check_images``)."""
    x, y, width, height = crop
    return image[y : y + height, x : x + width]


def _check_images(corrections: list[Correction]) -> None:
    """All or nothing: a missing or corrupt photo, or a box outside its photo, stops the export
    before anything is copied."""
    problems = []
    for item in corrections:
        if item.source.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(f"{item.source}: not an image file type")
            continue
        try:
            image = read_image(item.source)
        except ImageError as exc:
            problems.append(str(exc))
            continue
        problem = _crop_problem(item, image.shape[1], image.shape[0])
        if problem:
            problems.append(problem)
    if problems:
        shown = "; ".join(problems[:5])
        raise DatasetError(f"{len(problems)} corrections cannot be exported: {shown}")


def _crop_problem(item: Correction, width: int, height: int) -> str | None:
    if item.crop is None:
        return None
    x, y, crop_width, crop_height = item.crop
    if x + crop_width <= width and y + crop_height <= height:
        return None
    return (
        f"{item.row}: crop {crop_width}x{crop_height} at ({x}, {y}) lies outside"
        f" {item.source} ({width}x{height})"
    )


def _write_png(path: Path, image: UInt8Image) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DatasetError(f"cannot encode {path} as PNG")
    path.write_bytes(encoded.tobytes())


def write_csv(path: Path, header: tuple[str, str], rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
