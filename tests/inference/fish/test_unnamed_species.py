"""A ``species.csv`` that leaves a folder out trains that species under its folder id, as
the README allows; training says so in one line, naming the folders, instead of silently."""

from __future__ import annotations

from pathlib import Path

from inference.fish.config import HeadConfig
from inference.fish.dataset import load_dataset
from inference.fish.packing import TrainOptions
from inference.fish.taps import PLAIN
from inference.fish.train import Backbone, train_head_pack
from tests.inference.fish.conftest import make_slice


def test_training_names_the_folders_species_csv_leaves_out(
    f4k: Path, backbone: Backbone, tmp_path: Path
) -> None:
    data = make_slice(f4k, tmp_path / "data", {"fish_04": 3, "fish_06": 3, "fish_07": 3})
    kept = (data / "species.csv").read_text().splitlines()
    (data / "species.csv").write_text("\n".join(kept[:2]) + "\n")  # the header and fish_04
    options = TrainOptions(
        data=data, out=tmp_path / "pack", views=0, validation_fraction=0.34, taps=PLAIN,
        head=HeadConfig(epochs=3, patience=3), int8=False, name="part", version="0.0.1",
    )  # fmt: skip
    said: list[str] = []
    pack = train_head_pack(options, backbone, progress=said.append)
    notes = [line for line in said if "display name" in line]
    assert notes == [
        "note: species.csv gives no display name for fish_06, fish_07: "
        "the pack names them by their folder ids"
    ]
    assert [s.name for s in pack.species][1:] == ["fish_06", "fish_07"]


def test_without_species_csv_the_folder_ids_are_the_names_and_nothing_is_said(
    tmp_path: Path,
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.png").write_bytes(b"")
    assert load_dataset(tmp_path).unnamed == ()
    (tmp_path / "species.csv").write_text("folder,species\na,Alpha\n")
    assert load_dataset(tmp_path).unnamed == ("b",)
