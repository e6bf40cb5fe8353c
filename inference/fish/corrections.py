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
in any order: a fish in two of them takes the later one's species, as the hub's newer
verdict. A row with ``not_a_fish`` 1 (no file, no species, its ``observation_uid``) retracts
that observation: a reviewer answered that its photo shows no fish, so a label an earlier CSV
gave it is dropped (until a later CSV names a species again). A row with ``conflicting`` 1
does the same for an observation whose photo the export left out because the observations
on it disagree (a later one named another species, or not a fish). A CSV holding only such
rows is read like any other; an export before a column existed has none of its rows.

Exports are read in the order they were written, not the order given (``export_order``):
each row carries ``exported_at`` and ``exported_from`` (``hub`` or ``device``). A hub's
export outranks every device's, whatever the times: the hub holds every synced answer and
its times are its database's clock, while a device's clock may be wrong. Exports of one
source go by their times. Those without a time (written before the column) keep the order
given among themselves: listed after every CSV that has one, they are read after them;
listed anywhere else, before them; a note says which. Photos of identical bytes under two
photo ids (two uploads of one picture) are one photo: given one species they are one image;
given two, or a species and a retraction naming the picture by its ``photo_sha256`` ("not a
fish", or a photo of it left out as conflicting), all are left out, with a note, unless an
export read after that retraction labels the picture again.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import cv2

from inference.errors import ImageError
from inference.fish.csv_files import by_heading, read_csv
from inference.fish.dataset import GROUPS_CSV, IMAGE_SUFFIXES, SPECIES_CSV
from inference.fish.errors import DatasetError
from inference.fish.images import UInt8Image, read_image
from inference.fish.pack import load_pack
from inference.fish.staging import staging_folder
from inference.fish.types import Species, species_key
from inference.plural import counted

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
    say: Callable[[str], None] = lambda _: None,
) -> int:
    """Copy every confirmed image into ``out/<species>/``; return how many were written.

    ``corrections`` is one CSV or several exports' CSVs, in any order (``export_order``): a
    fish in two of them takes the later one's verdict (the hub's newer state), so
    consecutive exports that overlap can be given together. Within one CSV, two verdicts
    for a fish are an error. ``out`` gets the record ``--add-to`` keeps (``added_record``),
    so that a later ``--add-to`` takes back the images written here.
    """
    if out.exists() and any(out.iterdir()):
        raise DatasetError(
            f"{out} is not empty; export into a new folder, or add to a training folder "
            "with --add-to"
        )
    # its record (``added_record``, which reads this module) lets a later --add-to take
    # back what it writes
    from inference.fish.added_record import new_set_record, write_record

    read = _read_all(corrections, base, pack_names(species_pack), say)
    chosen, verdicts = _trainable(read, corrections), read.verdicts
    out.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(out) as staging:  # a killed run's is removed by the next
        try:
            write_tree(chosen, staging)
            write_record(
                staging, new_set_record(staging, chosen, verdicts.retracted, verdicts.pictures)
            )
            staging.chmod(0o755)  # mkdtemp makes it private; training reads it
            if out.exists():
                out.rmdir()  # empty, as checked above
            staging.rename(out)
        except OSError as exc:
            raise DatasetError(f"cannot write the training set to {out}: {exc}") from exc
    return len(chosen)


class Verdicts(NamedTuple):
    chosen: list[Correction]  # one per fish, its latest verdict a species
    retracted: dict[str, Written | None]  # observations whose latest verdict takes their
    # label back, with when it was written
    pictures: dict[str, tuple[str, Box | None]]  # the "not a fish" observations' photo
    # sha256 and box, where their rows carry it: a copy of it is taken back too


def _trainable(read: _Read, corrections: Path | Sequence[Path]) -> list[Correction]:
    """The fish to train on; an error saying why where every one was taken back."""
    if not read.verdicts.chosen:
        raise DatasetError(
            f"every fish in {_listed(corrections)} was {_taken_back(read.reasons)};"
            " nothing to train on"
        )
    return read.verdicts.chosen


def read_verdicts(
    corrections: Path | Sequence[Path],
    base: Path | None,
    names: dict[str, Species],
    say: Callable[[str], None] = lambda _: None,
) -> Verdicts:
    """One correction per fish, each export's CSV read in turn (oldest first, ``export_order``,
    so a fish takes its latest verdict), every photo and box checked before anything is
    written; and the observations the CSVs take back (``--add-to`` removes what it added for
    them), where every fish may be taken back."""
    return _read_all(corrections, base, names, say).verdicts


class _Read(NamedTuple):
    verdicts: Verdicts
    reasons: set[str]  # why fish were taken back: RETRACTING's reasons


def _read_all(
    corrections: Path | Sequence[Path],
    base: Path | None,
    names: dict[str, Species],
    say: Callable[[str], None],
) -> _Read:
    csvs = [corrections] if isinstance(corrections, Path) else list(corrections)
    exports = [(path, _read_export(path, base, names)) for path in csvs]
    newest: dict[tuple[str, ...], Correction] = {}
    read_as: dict[tuple[str, ...], int] = {}  # each fish's latest verdict: its export's turn
    for turn, (_, items) in enumerate(export_order(exports, say)):
        newest.update({item.fish(): item for item in items})
        read_as.update(dict.fromkeys((item.fish() for item in items), turn))
    if not newest:  # header-only exports (a day with nothing reviewed) add nothing: alone,
        # there is nothing to train on
        raise DatasetError(
            f"{_listed(corrections)} holds no corrections"
            if len(csvs) == 1
            else f"none of {_listed(corrections)} holds a correction"
        )
    chosen = [item for item in newest.values() if not item.retracted]
    _check_images(chosen)
    retracted = {item.observation: item.written for item in newest.values() if item.retracted}
    reasons = {item.retracted for item in newest.values() if item.retracted}
    chosen, conflicting = same_pictures(chosen, _refusals(newest, read_as), read_as, say)
    if conflicting:
        reasons.add("conflicting")
    conflicting_written = {item.observation: item.written for item in conflicting}
    pictures = {
        item.observation: (item.photo_sha256, item.crop)
        for item in newest.values()
        if item.retracted == "not_a_fish" and item.photo_sha256
    }
    return _Read(Verdicts(chosen, retracted | conflicting_written, pictures), reasons)


def _taken_back(reasons: set[str]) -> str:
    """What happened to every fish given, where none is left to train on."""
    said = {"not_a_fish": "answered not a fish", "conflicting": "left out as conflicting"}
    return " or ".join(said[reason] for reason in RETRACTING if reason in reasons)


def export_order(
    exports: list[tuple[Path, list[Correction]]], say: Callable[[str], None]
) -> list[tuple[Path, list[Correction]]]:
    """The exports oldest first by the time their rows carry (a hub's after every device's:
    a device's clock may be wrong, and the hub holds every answer a device synced). Those
    without one (written before the column) keep the order given among themselves: the ones
    listed after every export that has one are read after them, the others before, with a
    note saying which."""
    timed: list[tuple[Path, list[Correction]]] = []
    untimed: list[tuple[int, Path, list[Correction]]] = []
    for place, (path, items) in enumerate(exports):
        times = {item.written for item in items} - {None}
        if len(times) > 1:
            raise DatasetError(
                f"{path} holds rows of several exports (exported_at differs); give each"
                " export's own CSV"
            )
        if times:  # a row added by hand, without a time, is of its CSV's export
            [when] = times
            timed.append((path, [replace(item, written=when) for item in items]))
        else:
            untimed.append((place, path, items))
    last_timed = _last_timed(exports)
    before = [(path, items) for place, path, items in untimed if place < last_timed]
    after = [(path, items) for place, path, items in untimed if place > last_timed]
    if len(exports) > 1:
        _say_untimed(before, after, bool(timed), say)
    ordered = sorted(timed, key=lambda export: export[1][0].written or Written(0, _EPOCH))
    return before + ordered + after


def _last_timed(exports: list[tuple[Path, list[Correction]]]) -> int:
    """Where the last CSV that carries a time is listed; -1 where none does."""
    places = [
        place
        for place, (_, items) in enumerate(exports)
        if any(item.written is not None for item in items)
    ]
    return max(places, default=-1)


_UNTIMED = "no exported_at (written before exports recorded their time)"


def _say_untimed(
    before: list[tuple[Path, list[Correction]]],
    after: list[tuple[Path, list[Correction]]],
    any_timed: bool,
    say: Callable[[str], None],
) -> None:
    """Which CSVs without a time were read where (a header-only one adds nothing)."""
    first = ", ".join(str(path) for path, items in before if items)
    last = ", ".join(str(path) for path, items in after if items)
    if not any_timed:
        if last:
            say(f"{last}: {_UNTIMED}; read in the order given, taken as oldest first")
        return
    if first:
        say(
            f"{first}: {_UNTIMED}; read before every CSV that has one, in the order given"
            " (list a CSV after every CSV that has one to read it after them)"
        )
    if last:
        say(
            f"{last}: {_UNTIMED}; listed after every CSV that has one, so read after them,"
            " in the order given"
        )


_EPOCH = datetime.min.replace(tzinfo=UTC)


Picture = tuple[str, Box | None]  # a photo's sha256 and the fish's box


def _refusals(
    newest: dict[tuple[str, ...], Correction], read_as: dict[tuple[str, ...], int]
) -> dict[Picture, dict[str, int]]:
    """The pictures a latest retraction names by its ``photo_sha256``: for each, why
    (RETRACTING's reasons) and the last export's turn that said so."""
    found: dict[Picture, dict[str, int]] = {}
    for fish, item in newest.items():
        if item.retracted and item.photo_sha256:
            said = found.setdefault((item.photo_sha256, item.crop), {})
            said[item.retracted] = max(said.get(item.retracted, -1), read_as[fish])
    return found


def same_pictures(
    chosen: list[Correction],
    refusals: dict[Picture, dict[str, int]],
    read_as: dict[tuple[str, ...], int],
    say: Callable[[str], None],
) -> tuple[list[Correction], list[Correction]]:
    """One image per picture (photo bytes and box), though two photo ids hold it (uploaded
    twice); and the pictures whose observations disagree left out, each named: two species,
    or a species and a retraction naming its ``photo_sha256`` ("not a fish", or a photo of
    it left out as conflicting) read no earlier than the picture's latest label (a label
    an export wrote after it means the observations agree again). The kept corrections,
    and those left out."""
    by_picture: dict[Picture, list[Correction]] = {}
    for item in chosen:
        by_picture.setdefault((_digest(item.source), item.crop), []).append(item)
    kept, left_out = [], []
    for picture, items in by_picture.items():
        labelled = max(read_as[item.fish()] for item in items)
        said = {why for why, turn in refusals.get(picture, {}).items() if turn >= labelled}
        answers = sorted({item.species_id for item in items})
        if "not_a_fish" in said:
            answers.append("not a fish")
        if len(answers) > 1 or "conflicting" in said:
            left_out += items
            say(f"left out as conflicting: {_conflict(items, answers, 'conflicting' in said)}")
        else:
            kept.append(items[0])
    return kept, left_out


def _conflict(items: list[Correction], answers: list[str], elsewhere: bool) -> str:
    """The files of one picture and what they were given, for the note."""
    files = ", ".join(str(item.source) for item in items)
    held = f"{files} holds a picture" if len(items) == 1 else f"{files} hold the same picture"
    given = f"{held} given as {' and as '.join(answers)}"
    if not elsewhere:
        return given
    return f"{given}, and a photo of the same picture was left out as conflicting by an export"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
        source, species_id, known.name if known else name, group, crop, where, observation,
        written=_written(row, where),
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
        raise DatasetError(f"{counted(len(problems), 'correction')} cannot be exported: {shown}")


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
