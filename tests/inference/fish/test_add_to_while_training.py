"""An ``--add-to`` that takes a photo back while training reads DATA: training reads photos
long after its scan (backbone features, the parity check, INT8 calibration; a fine-tune
reads them again after its epochs), so the add must wait until training has read its last
photo, or training meets a photo gone since the scan and crashes part way."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from inference.fish.config import HeadConfig
from inference.fish.merge import add_training_set
from inference.fish.packing import TrainOptions
from inference.fish.train import Backbone, train_head_pack
from tests.inference.fish.test_add_to_killed import _kill
from tests.inference.fish.test_add_to_races import _paused_or_waiting, _start_add
from tests.inference.fish.test_corrections_order import MONDAY, TUESDAY, _export, _photo

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


def _data_with_an_added_photo(tmp_path: Path) -> tuple[Path, Path]:
    """DATA whose photo of obs-1 an earlier add wrote, and an export taking obs-1 back."""
    data = tmp_path / "data"
    for species, seed in (("a", 10), ("b", 20)):
        for i in range(4):
            _photo(data / species / f"own{i}.png", seed + i)
    _photo(tmp_path / "mon" / "p1.png", 1)
    add_training_set(_export(tmp_path / "mon", ["p1.png,A,obs-1"], MONDAY), data)
    return data, _export(tmp_path / "tue", [",,obs-1,not_a_fish"], TUESDAY)


def test_an_add_taking_a_photo_back_after_the_scan_waits_until_training_has_read_it(
    tmp_path: Path, backbone: Backbone
) -> None:
    data, take_back = _data_with_an_added_photo(tmp_path)
    options = TrainOptions(
        data=data, out=tmp_path / "pack", views=0, int8=False, head=HeadConfig(epochs=5),
        validation_fraction=0.34,
    )  # fmt: skip
    gate, output = tmp_path / "gate", tmp_path / "add-output"
    added: list[subprocess.Popen[str]] = []

    def progress(line: str) -> None:
        if line.startswith("backbone features") and not added:  # scanned, photos not yet read
            added.append(_start_add(take_back, data, gate, output))
            _paused_or_waiting(added[0], gate, output)

    try:
        pack = train_head_pack(options, backbone, progress)
    finally:
        for worker in added:
            _kill(worker)
    assert "waiting for it to finish" in output.read_text()
    counts = pack.training()["counts"]
    assert sum(row["train_images"] + row["val_images"] for row in counts.values()) == 9
