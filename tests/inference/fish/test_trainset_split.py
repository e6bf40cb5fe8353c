"""What ``prepare`` gives training: every species it names has photos to learn from."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

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
