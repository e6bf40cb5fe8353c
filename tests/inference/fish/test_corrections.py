"""Corrections become a training folder that ``jaga fish train`` reads, groups included."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.fish.corrections import export_training_set
from inference.fish.dataset import load_dataset
from inference.fish.errors import DatasetError


def _photo(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (60, 80, 3), np.uint8))
    return path


def test_export_writes_species_folders_groups_and_names(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for i in range(3):
        _photo(inbox / f"dev{i % 2}" / "IMG_1.jpg", i)
    (inbox / "corrections.csv").write_text(
        "file,confirmed_species,group\n"
        "dev0/IMG_1.jpg,Lutjanus fulvus,trip-1\n"
        "dev1/IMG_1.jpg,Lutjanus fulvus,trip-2\n"
        "dev0/IMG_1.jpg,Zanclus cornutus,\n"
    )
    out = tmp_path / "set"
    assert export_training_set(inbox / "corrections.csv", out) == 3
    dataset = load_dataset(out)
    assert [s.name for s in dataset.species] == ["Lutjanus fulvus", "Zanclus cornutus"]
    assert dataset.group_source == "groups.csv"
    groups = sorted(s.group for s in dataset.samples)
    assert groups == ["group:file:dev0/IMG_1.jpg", "group:trip-1", "group:trip-2"]


def test_a_missing_or_corrupt_photo_stops_the_export_before_anything_is_copied(
    tmp_path: Path,
) -> None:
    _photo(tmp_path / "ok.png", 0)
    (tmp_path / "bad.png").write_bytes(b"garbage")
    (tmp_path / "c.csv").write_text("file,confirmed_species\nok.png,A\nbad.png,A\nmissing.png,B\n")
    with pytest.raises(DatasetError, match="2 corrections cannot be exported"):
        export_training_set(tmp_path / "c.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_wrong_columns_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("path,label\nx.png,A\n")
    with pytest.raises(DatasetError, match="file,confirmed_species"):
        export_training_set(tmp_path / "c.csv", tmp_path / "out")


def test_the_exports_provenance_columns_are_passed_over(tmp_path: Path) -> None:
    """The header ``jaga hub export-corrections`` and ``jaga store export-corrections`` write,
    ``pack_version`` included: every extra column is read past, none becomes a label."""
    _photo(tmp_path / "photos" / "p1.png", 0)
    _photo(tmp_path / "photos" / "p2.png", 1)
    (tmp_path / "corrections.csv").write_text(
        "file,confirmed_species,group,observation_uid,reviewed_by,observed_at,pack_version\n"
        "photos/p1.png,Lutjanus fulvus,trip:V/T-1,obs-1,o-2,2026-03-01T08:00:00Z,f4k-2026.03\n"
        "photos/p2.png,Zanclus cornutus,,obs-2,o-2,2026-03-01T09:00:00Z,\n"
    )
    out = tmp_path / "set"
    assert export_training_set(tmp_path / "corrections.csv", out) == 2
    dataset = load_dataset(out)
    assert [s.name for s in dataset.species] == ["Lutjanus fulvus", "Zanclus cornutus"]
    assert sorted(s.group for s in dataset.samples) == [
        "group:file:photos/p2.png",
        "group:trip:V/T-1",
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "groups.csv",
        "lutjanus_fulvus",
        "species.csv",
        "zanclus_cornutus",
    ]
