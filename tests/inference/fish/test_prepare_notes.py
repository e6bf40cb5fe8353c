"""What every training mode (head, fine-tune, combine) says before it starts: each photo it
leaves out and why, one line a photo; the fine-tune and combine modes said nothing of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from inference.fish.trainset import prepare
from tests.inference.fish.conftest import SLICE

pytestmark = pytest.mark.needs_shared


def test_each_photo_left_out_is_named_with_its_reason(fish_slice: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for species in list(SLICE)[:2]:
        shutil.copytree(fish_slice / species, data / species)
    first = next(iter(SLICE))
    (data / first / "fish_990_1.png").write_bytes(b"")  # empty: unreadable
    photo = cv2.imread(str(next((data / first).glob("*.png"))))
    assert photo is not None
    tiny = cv2.resize(photo, (12, 12))
    assert cv2.imwrite(str(data / first / "fish_991_1.png"), tiny)  # under the quality gate
    prepared = prepare(data, validation_fraction=0.34)
    notes = prepared.notes()
    left_out = {path.name: reason for path, reason in prepared.rejected}
    assert set(left_out) == {"fish_990_1.png", "fish_991_1.png"}
    for name, reason in left_out.items():
        assert f"skipped {data / first / name}: {reason}" in notes
