"""Checking the corrections' photos and writing them as the species-folder tree ``jaga fish
train`` reads: each photo (or its crop box, as a lossless PNG) in its species' folder, with
``groups.csv`` and ``species.csv``.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2

from inference.errors import ImageError
from inference.fish.correction_rows import Box, Correction
from inference.fish.csv_files import spreadsheet_cell
from inference.fish.dataset import GROUPS_CSV, IMAGE_SUFFIXES, SPECIES_CSV
from inference.fish.errors import DatasetError
from inference.fish.images import UInt8Image, read_image
from inference.plural import counted


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


def cropped(image: UInt8Image, crop: Box) -> UInt8Image:
    """The box of ``image`` (which it must fit: see ``check_images``)."""
    x, y, width, height = crop
    return image[y : y + height, x : x + width]


def check_images(corrections: list[Correction]) -> None:
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
    """Species names and groups as a spreadsheet shows them, never runs them: every cell
    quoted, as the corrections export writes them, and ``=…`` written ``'=…`` (``csv_files``);
    ``load_dataset`` reads them back exactly."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows([spreadsheet_cell(cell) for cell in row] for row in rows)
