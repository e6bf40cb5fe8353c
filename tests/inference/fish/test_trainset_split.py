"""What ``prepare`` gives training: every species it names has photos to learn from, and
no photo (by its bytes) is on both sides of the split or under two species."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.fish.errors import DatasetError
from inference.fish.trainset import prepare


def _image(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    cv2.imwrite(str(path), pixels)
    return path


def _trips(root: Path) -> Path:
    """a: 4 trips of 3 photos; b: one photo on each of trips t1 and t2 (a trip holds every
    species caught on it, as the hub's ``trip:<vessel>/<trip>`` groups do)."""
    rows = ["file,group"]
    for i in range(12):
        _image(root / "a" / f"{i}.png", seed=i)
        rows.append(f"a/{i}.png,t{1 + i // 3}")
    for i in range(2):
        _image(root / "b" / f"{i}.png", seed=100 + i)
        rows.append(f"b/{i}.png,t{1 + i}")
    (root / "groups.csv").write_text("\n".join(rows) + "\n")
    return root


def test_every_species_keeps_training_images_when_trips_hold_several(tmp_path: Path) -> None:
    root = _trips(tmp_path)
    for seed in range(30):
        counts = prepare(root, validation_fraction=0.5, seed=seed).counts()
        assert all(c["train_images"] > 0 for c in counts.values()), (seed, counts)


def test_identical_photos_stay_on_one_side_of_the_split(tmp_path: Path) -> None:
    for species, base in (("a", 0), ("b", 100)):
        for i in range(6):
            photo = _image(tmp_path / species / f"{i}.png", seed=base + i)
            shutil.copy(photo, photo.with_name(f"{i} copy.png"))
    for seed in range(5):
        data = prepare(tmp_path, validation_fraction=0.5, seed=seed)
        trained = {data.hashes[i] for i in data.train}
        assert data.validation and not trained & {data.hashes[i] for i in data.validation}
        validated = {data.dataset.samples[i].group for i in data.validation}
        assert validated == data.validation_groups  # the files' own groups, as eval reads them


def test_one_photo_under_two_species_is_refused_naming_both_files(tmp_path: Path) -> None:
    for species, base in (("a", 0), ("b", 100)):
        for i in range(3):
            _image(tmp_path / species / f"{i}.png", seed=base + i)
    shutil.copy(tmp_path / "a" / "1.png", tmp_path / "b" / "slip.png")
    with pytest.raises(DatasetError, match=r"a/1\.png.* b/slip\.png"):
        prepare(tmp_path)
