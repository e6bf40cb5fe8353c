"""``jaga fish export-training-set``: confirmed corrections -> a training folder.

The review loop's corrections live in the encrypted store (``sync``), which ``inference`` must
not import; the desktop and sync layers export them as a CSV with the columns
``file,confirmed_species`` and optionally ``group`` (a trip, day or observation id — frames or
crops of one fish must share a group so that they never straddle a split). Any other column
(the exports' provenance: ``observation_uid``, ``reviewed_by``, ``observed_at``,
``pack_version``, and what later exports add) is passed over. This writes the species-folder
tree ``jaga fish train`` reads, with ``groups.csv`` and ``species.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from inference.fish.dataset import GROUPS_CSV, IMAGE_SUFFIXES, SPECIES_CSV
from inference.fish.errors import DatasetError, ImageError
from inference.fish.images import read_image
from inference.fish.pack import load_pack
from inference.fish.types import Species

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Correction:
    source: Path
    species_id: str
    species_name: str
    group: str


def export_training_set(
    corrections_csv: Path, out: Path, *, base: Path | None = None, species_pack: Path | None = None
) -> int:
    """Copy every confirmed image into ``out/<species>/``; return how many were written."""
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out} is not empty; export into a new folder")
    names = _pack_names(species_pack)
    rows = _read_rows(corrections_csv)
    corrections = [_correction(row, base or corrections_csv.parent, names) for row in rows]
    _check_images(corrections)
    groups: list[tuple[str, str]] = []
    species: dict[str, str] = {}
    for item in corrections:
        target = out / item.species_id / _unique_name(item.source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(item.source, target)
        groups.append((f"{item.species_id}/{target.name}", item.group))
        species[item.species_id] = item.species_name
    _write_csv(out / GROUPS_CSV, ("file", "group"), groups)
    _write_csv(out / SPECIES_CSV, ("folder", "species"), sorted(species.items()))
    return len(corrections)


def _pack_names(species_pack: Path | None) -> dict[str, Species]:
    """Known names and ids (lower-cased) -> the pack's species, so corrections reuse its ids."""
    if species_pack is None:
        return {}
    pack = load_pack(species_pack)
    known = pack.species + pack.held_out
    return {s.name.lower(): s for s in known} | {s.id.lower(): s for s in known}


def _read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"file", "confirmed_species"} <= set(reader.fieldnames or ()):
                raise DatasetError(f"{path} needs the columns file,confirmed_species[,group]")
            rows = [dict(row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise DatasetError(f"{path} holds no corrections")
    return rows


def _correction(row: dict[str, str], base: Path, names: dict[str, Species]) -> Correction:
    name = (row.get("confirmed_species") or "").strip()
    file = (row.get("file") or "").strip()
    if not name or not file:
        raise DatasetError(f"a correction needs a file and a confirmed species: {row}")
    source = Path(file) if Path(file).is_absolute() else base / file
    known = names.get(name.lower())
    species_id = known.id if known else _SLUG.sub("_", name.lower()).strip("_")
    if not species_id:
        raise DatasetError(f"{name!r} cannot be turned into a folder name")
    group = (row.get("group") or "").strip() or f"file:{file}"
    return Correction(source, species_id, known.name if known else name, group)


def _check_images(corrections: list[Correction]) -> None:
    """All or nothing: a missing or corrupt photo stops the export before anything is copied."""
    problems = []
    for item in corrections:
        if item.source.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(f"{item.source}: not an image file type")
            continue
        try:
            read_image(item.source)
        except ImageError as exc:
            problems.append(str(exc))
    if problems:
        shown = "; ".join(problems[:5])
        raise DatasetError(f"{len(problems)} corrections cannot be exported: {shown}")


def _unique_name(source: Path) -> str:
    """Photos from several devices can share a name; a digest of the path keeps them apart."""
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    return f"{source.stem}-{digest}{source.suffix.lower()}"


def _write_csv(path: Path, header: tuple[str, str], rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
