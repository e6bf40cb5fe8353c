"""A training or evaluation folder: one sub-folder per species, images inside.

``DIR/species.csv`` (``folder,species``) optionally gives display names. Split groups come
from ``DIR/groups.csv`` (``file,group``, file relative to DIR, ``/`` or ``\\`` between
folders: a team on Windows writes ``a\\trip7\\x.jpg``), else from the sub-folder an
image sits in below its species folder (``fish_01/trip7/x.jpg``: teams file a species'
photos by trip, and a trip's photos share fish and light), else from Fish4Knowledge names
``fish_<track>_<frame>.<ext>`` (the track is the group), else one group per image. Frames
of one fish are near-duplicates: a split that ignores groups measures memory, not
recognition. A groups.csv value is the group ``group:<value>``, except one that is the rule
group (``track:7``, ``folder:a/trip7``, ``file:a/x.png``) of every image given it: those
images keep that rule's id, as ``--add-to`` writes them out, so a pack trained before the add
finds its recorded validation groups again (``_own_groups``).

Folders and names are one species when their ``species_key`` is (case, spacing, Unicode
form). Two folders of one species, two folders given one display name, a folder listed
twice in species.csv, an image given two groups, a row without one of its cells, and a
groups.csv row naming no image are refused, naming the folders or the lines. Each CSV holds
its two columns and no other (blank headings aside), and a non-blank cell past the header or
under a blank heading is refused: that is what a comma in a name not in double quotes leaves
(``csv_files``). The CSVs may be saved by Excel ("CSV UTF-8", with a byte order mark);
their cells are read in NFC. Hidden folders (``.thumbnails``) are
skipped, and a folder a link leads back to is read once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from inference.fish.add_journal import held_for_reading
from inference.fish.csv_files import by_heading, read_csv, spreadsheet_text
from inference.fish.errors import DatasetError, SpeciesMismatchError
from inference.fish.types import Species, species_key
from inference.plural import counted

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
SPECIES_CSV = "species.csv"
GROUPS_CSV = "groups.csv"
_F4K_NAME = re.compile(r"^fish_(?P<track>\d+)_(?P<frame>\d+)$")
_SHOWN_ROWS = 5  # of the rows an error names, the first few


def skipped_note(path: Path, reason: str) -> str:
    """The line training and evaluation print for a photo they leave out, one a photo."""
    return f"skipped {path}: {reason}"


@dataclass(frozen=True)
class Sample:
    path: Path
    relative: str  # POSIX path relative to the data folder: the key in groups.csv and splits
    species_id: str
    group: str


@dataclass(frozen=True)
class FishDataset:
    root: Path
    species: tuple[Species, ...]  # sorted by id; the order is the class index
    samples: tuple[Sample, ...]
    group_source: str
    unnamed: tuple[str, ...] = ()  # folders a species.csv leaves out: named by their ids

    def unnamed_note(self) -> str | None:
        """One line for training: a folder species.csv leaves out is allowed, but a pack
        that shows a device ``fish_02`` for a species is rarely what its maker meant."""
        if not self.unnamed:
            return None
        return (
            f"note: {SPECIES_CSV} gives no display name for {', '.join(self.unnamed)}: "
            "the pack names them by their folder ids"
        )

    @property
    def species_ids(self) -> tuple[str, ...]:
        return tuple(species.id for species in self.species)

    def group_counts(self) -> dict[str, int]:
        pairs = {(sample.species_id, sample.group) for sample in self.samples}
        return dict(Counter(species_id for species_id, _ in pairs))

    def subset(self, keep: Iterable[int]) -> FishDataset:
        samples = tuple(self.samples[i] for i in keep)
        present = {sample.species_id for sample in samples}
        species = tuple(s for s in self.species if s.id in present)
        unnamed = tuple(folder for folder in self.unnamed if folder in present)
        return FishDataset(self.root, species, samples, self.group_source, unnamed)


@dataclass(frozen=True)
class _Row:
    """A CSV row's two cells, stripped and in NFC, and the line of the file it ends on."""

    line: int
    key: str
    value: str


def load_dataset(root: Path, *, add_lock_held: bool = False) -> FishDataset:
    """Scan ``root``; every problem that would silently skew training is an error.
    ``add_lock_held``: the caller is an ``--add-to`` that holds DATA's lock and has settled
    it (taking the lock again would wait on itself)."""
    # an --add-to stopped part way, or one moving photos in under the scan, would mix two
    # states: the scan holds DATA's lock
    with contextlib.nullcontext() if add_lock_held else reading(root):
        return _scan(root)


@contextlib.contextmanager
def reading(root: Path) -> Iterator[None]:
    """DATA's lock held shared (see ``held_for_reading``) for as long as the caller reads
    it: a reader that reads its photos after the scan (training, eval) holds it until its
    last photo is read, or an ``--add-to`` could take back a photo it scanned. An add started
    meanwhile waits, saying so. Held again inside (``load_dataset``), it is only shared
    twice: each open of DATA holds its own lock."""
    if not root.is_dir():  # before the lock opens it
        raise DatasetError(f"{root} is not a folder of species folders")
    with held_for_reading(root):
        yield


def _scan(root: Path) -> FishDataset:
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(f"{root} holds no species folders (one folder per species)")
    _refuse_one_species_twice(root, folders)
    named = _read_species_csv(root / SPECIES_CSV, folders)
    species = tuple(_species(root, folder, named) for folder in folders)
    _refuse_one_name_twice(root / SPECIES_CSV, species, named)
    files = {folder: _images_in(root / folder) for folder in folders}
    empty = [name for name, images in files.items() if not images]
    if empty:
        raise DatasetError(f"species folders without images in {root}: {', '.join(empty)}")
    relatives = [path.relative_to(root).as_posix() for paths in files.values() for path in paths]
    groups, source = _groups(root, relatives)
    samples = tuple(
        Sample(root / rel, rel, rel.split("/", 1)[0], groups[rel]) for rel in relatives
    )  # fmt: skip
    unnamed = tuple(f for f in folders if f not in named) if (root / SPECIES_CSV).exists() else ()
    return FishDataset(root, species, samples, source, unnamed)


def _species(root: Path, folder: str, named: dict[str, _Row]) -> Species:
    """The folder's species, named by species.csv or by the folder; a name no record may
    hold (a control character, a bidirectional override) is refused here, naming where it
    was written, not by every device that records a catch of it."""
    try:
        return Species(folder, named[folder].value if folder in named else folder)
    except ValueError as exc:
        where = f"{root / SPECIES_CSV}, line {named[folder].line}" if folder in named else root
        raise DatasetError(f"{where}: {exc}; rename it") from exc


def _refuse_one_species_twice(root: Path, folders: list[str]) -> None:
    """'Chromis' and 'chromis' (or an 'é' in NFC and NFD) would train as two classes of the
    one species that the stores and the corrections export see."""
    by_key: dict[str, list[str]] = {}
    for folder in folders:
        by_key.setdefault(species_key(folder), []).append(folder)
    twice = [" and ".join(map(_shown, same)) for same in by_key.values() if len(same) > 1]
    if twice:
        raise DatasetError(
            f"species folders of {root} that are one species (they differ only in case, "
            f"spacing or Unicode form): {'; '.join(twice)}; merge each into one folder"
        )


def _shown(name: str) -> str:
    """``name`` quoted, saying when it is decomposed: NFD and NFC look alike on a screen."""
    return repr(name) + ("" if unicodedata.is_normalized("NFC", name) else " (decomposed, NFD)")


def _images_in(folder: Path) -> list[Path]:
    """The species' images, those in its sub-folders too; a hidden folder is skipped, and a
    folder that a link leads back to is read once."""
    seen: set[Path] = set()
    images = []
    for parent, subfolders, names in os.walk(folder, onerror=_unreadable, followlinks=True):
        real = Path(parent).resolve()
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        images += [Path(parent, n) for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(images)


def _unreadable(error: OSError) -> None:
    raise DatasetError(f"cannot read the folder {error.filename}: {error.strerror}")


def _read_csv(path: Path, columns: tuple[str, str]) -> list[_Row]:
    """Its rows; a file with a column other than the two it reads is refused (blank headings
    aside), as one a name's comma would put half of that name into (``csv_files``)."""
    header, lines = read_csv(path)
    if not set(columns) <= set(header):
        raise DatasetError(f"{path} must have the columns {','.join(columns)}")
    others = [heading for heading in header if heading.strip() and heading not in columns]
    if others:
        raise DatasetError(
            f"{path} has the columns {','.join(header)}: it reads {','.join(columns)} and no "
            "other, so that a name that holds a comma cannot lose half of it to another "
            "column; remove the others"
        )
    rows = (_row(path, read.line, read.cells, columns) for read in by_heading(path, header, lines))
    return [row for row in rows if row is not None]


def _row(
    path: Path, line: int, row: Mapping[str, str | None], columns: tuple[str, str]
) -> _Row | None:
    """The row's cells; None for a row of empty cells (Excel saves blank rows as commas)."""
    cells = (spreadsheet_text(row.get(c) or "").strip() for c in columns)  # see csv_files
    key, value = (unicodedata.normalize("NFC", cell) for cell in cells)
    if not key and not value:
        return None
    if not key:
        raise DatasetError(f"{path}, line {line}: no {columns[0]}")
    if not value:
        raise DatasetError(f"{path}, line {line}: {columns[0]} {key!r} has no {columns[1]}")
    return _Row(line, key, value)


def _read_species_csv(path: Path, folders: list[str]) -> dict[str, _Row]:
    """Each folder's row, matched by ``species_key`` (Excel may capitalise, a Mac decompose)."""
    if not path.exists():
        return {}
    by_key = {species_key(folder): folder for folder in folders}
    rows: dict[str, list[_Row]] = {}
    for row in _read_csv(path, ("folder", "species")):
        rows.setdefault(by_key.get(species_key(row.key), row.key), []).append(row)
    twice = [
        f"{folder} twice (lines {', '.join(str(row.line) for row in same)})"
        for folder, same in rows.items()
        if len(same) > 1
    ]
    if twice:
        raise DatasetError(f"{path} names folder {'; '.join(twice)}: one row per folder")
    unknown = sorted(set(rows) - set(folders))
    if unknown:
        raise SpeciesMismatchError(
            f"{path} names species folders that do not exist: {', '.join(unknown)}"
        )
    return {folder: same[0] for folder, same in rows.items()}


def _refuse_one_name_twice(path: Path, species: Iterable[Species], named: dict[str, _Row]) -> None:
    """Two folders under one display name are two classes that a device shows as one."""
    by_key: dict[str, list[Species]] = {}
    for one in species:
        by_key.setdefault(species_key(one.name), []).append(one)
    twice = [
        " and ".join(f"{s.id} ({_where(s.id, named)})" for s in same) + f" as {same[0].name!r}"
        for same in by_key.values()
        if len(same) > 1
    ]
    if twice:
        raise DatasetError(
            f"{path} names folders {'; '.join(twice)}: one species twice; give each folder "
            "its own species, or merge the folders"
        )


def _where(folder: str, named: dict[str, _Row]) -> str:
    return f"line {named[folder].line}" if folder in named else "its folder's name"


def _groups(root: Path, relatives: list[str]) -> tuple[dict[str, str], str]:
    path = root / GROUPS_CSV
    if not path.exists():
        return _default_groups(relatives)
    listed = _listed_groups(path)
    present = {unicodedata.normalize("NFC", rel) for rel in relatives}
    strays = [row for file, row in listed.items() if file not in present]
    if strays:
        shown = ", ".join(f"line {row.line}: {row.key}" for row in strays[:_SHOWN_ROWS])
        raise DatasetError(
            f"{path} has {counted(len(strays), 'row')} naming no image in {root} ({shown}"
            f"{', ...' if len(strays) > _SHOWN_ROWS else ''}); correct or remove them"
        )
    found = {rel: listed.get(unicodedata.normalize("NFC", rel)) for rel in relatives}
    missing = [rel for rel, row in found.items() if row is None]
    if missing:
        raise DatasetError(
            f"{path} gives no group for {counted(len(missing), 'image')}, e.g. {missing[:3]}; "
            "list every image, or remove groups.csv to group by folder or file name"
        )
    values = {rel: row.value for rel, row in found.items() if row}
    own = _own_groups(values)
    return {rel: own.get(rel) or f"group:{value}" for rel, value in values.items()}, GROUPS_CSV


def _own_groups(values: dict[str, str]) -> dict[str, str]:
    """The images whose groups.csv group is the one their name rule gives (``track:7``, as
    ``--add-to`` writes for a DATA that had no groups.csv), keeping that rule's id, so a pack
    trained before still finds its validation groups. A value keeps it only when every image
    given it is given its own rule's group: one value is always one group, and a value that
    is not kept becomes ``group:…``, which no rule's id can equal."""
    own = {rel: _group_from_path(rel) for rel in values}
    by_value: dict[str, list[str]] = {}
    for rel, value in values.items():
        by_value.setdefault(value, []).append(rel)
    return {
        rel: own[rel]
        for value, rels in by_value.items()
        if all(unicodedata.normalize("NFC", own[rel]) == value for rel in rels)
        for rel in rels
    }


def _listed_groups(path: Path) -> dict[str, _Row]:
    """Each file's row, its path with ``/`` between folders (``\\`` is read as one); a file
    listed twice must be given one group."""
    listed: dict[str, _Row] = {}
    clashes = []
    for read in _read_csv(path, ("file", "group")):
        row = dataclasses.replace(read, key=read.key.replace("\\", "/"))
        first = listed.setdefault(row.key, row)
        if first.value != row.value:
            clashes.append(f"{row.key} two groups (lines {first.line}, {row.line})")
    if clashes:
        raise DatasetError(f"{path} gives {'; '.join(clashes[:_SHOWN_ROWS])}: one group each")
    return listed


def _default_groups(relatives: list[str]) -> tuple[dict[str, str], str]:
    groups = {rel: _group_from_path(rel) for rel in relatives}
    kinds = Counter(group.split(":", 1)[0] for group in groups.values())
    source = "fish_<track>_<frame> names" if kinds["track"] else "one group per image"
    if kinds["track"] and kinds["file"]:
        source += f" ({counted(kinds['file'], 'image')} without a track: one group each)"
    if kinds["folder"] == len(groups):
        source = "sub-folders"
    elif kinds["folder"]:
        source = f"sub-folders for {counted(kinds['folder'], 'image')}, else {source}"
    return groups, source


def _group_from_path(relative: str) -> str:
    folder, _, name = relative.rpartition("/")
    if "/" in folder:  # below its species folder: a trip, a day, a camera
        return f"folder:{folder}"
    match = _F4K_NAME.match(Path(name).stem)
    return f"track:{match['track']}" if match else f"file:{relative}"
