"""A training or evaluation folder: one sub-folder per species, images inside.

``DIR/species.csv`` (``folder,species``) optionally gives display names. Split groups come
from ``DIR/groups.csv`` (``file,group``, file relative to DIR), else from Fish4Knowledge
names ``fish_<track>_<frame>.<ext>`` (the track is the group), else one group per image.
Frames of one fish are near-duplicates: a split that ignores groups measures memory, not
recognition.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from inference.fish.errors import DatasetError, SpeciesMismatchError
from inference.fish.types import Species

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
SPECIES_CSV = "species.csv"
GROUPS_CSV = "groups.csv"
_F4K_NAME = re.compile(r"^fish_(?P<track>\d+)_(?P<frame>\d+)$")


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
        return FishDataset(self.root, species, samples, self.group_source)


def load_dataset(root: Path) -> FishDataset:
    """Scan ``root``; every problem that would silently skew training is an error."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder of species folders")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(f"{root} holds no species folders (one folder per species)")
    names = _read_species_csv(root / SPECIES_CSV, {folder.name for folder in folders})
    try:
        species = tuple(Species(f.name, names.get(f.name, f.name)) for f in folders)
    except ValueError as exc:  # a blank display name in species.csv, say
        raise DatasetError(f"{root}: {exc}") from None
    files = {folder.name: _images_in(folder) for folder in folders}
    empty = [name for name, images in files.items() if not images]
    if empty:
        raise DatasetError(f"species folders without images in {root}: {', '.join(empty)}")
    relatives = [f"{sid}/{path.name}" for sid, paths in files.items() for path in paths]
    groups, source = _groups(root, relatives)
    samples = tuple(
        Sample(root / rel, rel, rel.split("/", 1)[0], groups[rel]) for rel in relatives
    )  # fmt: skip
    return FishDataset(root, species, samples, source)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _read_csv(path: Path, columns: tuple[str, str]) -> list[tuple[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not set(columns) <= set(reader.fieldnames):
                raise DatasetError(f"{path} must have the columns {','.join(columns)}")
            return [(row[columns[0]].strip(), row[columns[1]].strip()) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _read_species_csv(path: Path, folders: set[str]) -> dict[str, str]:
    if not path.exists():
        return {}
    names = dict(_read_csv(path, ("folder", "species")))
    unknown = sorted(set(names) - folders)
    if unknown:
        raise SpeciesMismatchError(
            f"{path} names species folders that do not exist: {', '.join(unknown)}"
        )
    return names


def _groups(root: Path, relatives: list[str]) -> tuple[dict[str, str], str]:
    path = root / GROUPS_CSV
    if path.exists():
        listed = dict(_read_csv(path, ("file", "group")))
        missing = [rel for rel in relatives if not listed.get(rel)]
        if missing:
            raise DatasetError(
                f"{path} gives no group for {len(missing)} images, e.g. {missing[:3]}; "
                "list every image, or remove groups.csv to group by file name"
            )
        return {rel: f"group:{listed[rel]}" for rel in relatives}, GROUPS_CSV
    groups = {rel: _group_from_name(rel) for rel in relatives}
    tracks = sum(group.startswith("track:") for group in groups.values())
    source = "fish_<track>_<frame> names" if tracks else "one group per image"
    if 0 < tracks < len(groups):
        source += f" ({len(groups) - tracks} images without a track: one group each)"
    return groups, source


def _group_from_name(relative: str) -> str:
    match = _F4K_NAME.match(Path(relative).stem)
    return f"track:{match['track']}" if match else f"file:{relative}"
