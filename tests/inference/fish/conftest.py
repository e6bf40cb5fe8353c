"""Fixtures of the fish tests: a small slice of Fish4Knowledge and one pack trained on it.

The slice is a few species with a few tracks each, linked (not copied) from ../shared; the
backbone features are cached for the session in a temporary folder, so the one real training
run and every test after it stay within seconds. The slice and the two packs trained on it are
made once for the whole run (``made_once``): under pytest-xdist each worker is a process with
session fixtures of its own, and each trained and fine-tuned them again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from inference.fish.config import FinetuneConfig, HeadConfig
from inference.fish.finetune import finetune_pack
from inference.fish.pack import SpeciesPack, load_pack
from inference.fish.packing import TrainOptions
from inference.fish.taps import PLAIN
from inference.fish.train import Backbone, train_head_pack
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path
from tests.made_once import made_once

# species folder -> tracks taken: enough that a third of them (validation) is two tracks
SLICE = {"fish_04": 6, "fish_06": 6, "fish_07": 6, "fish_09": 6, "fish_16": 5}
HOLDOUT = "fish_10"
IMAGES_PER_TRACK = 3


def _tracks(folder: Path) -> dict[str, list[Path]]:
    tracks: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("fish_*_*.png")):
        tracks.setdefault(path.stem.split("_")[1], []).append(path)
    return tracks


def make_slice(source: Path, target: Path, species: dict[str, int]) -> Path:
    for name, n_tracks in species.items():
        (target / name).mkdir(parents=True)
        for paths in list(_tracks(source / name).values())[:n_tracks]:
            for path in paths[:IMAGES_PER_TRACK]:
                (target / name / path.name).symlink_to(path)
    lines = [line for line in (source / "species.csv").read_text().splitlines()
             if line.startswith("folder") or line.split(",")[0] in species]  # fmt: skip
    (target / "species.csv").write_text("\n".join(lines) + "\n")
    return target


@pytest.fixture(scope="session")
def f4k() -> Path:
    return shared_path("data", "fish", "f4k")


@pytest.fixture(scope="session")
def fish_slice(f4k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    def make(folder: Path) -> Path:
        return make_slice(f4k, folder / "data", {**SLICE, HOLDOUT: 3})

    return made_once(tmp_path_factory, "f4k", make, lambda folder: folder / "data")


@pytest.fixture(scope="session")
def backbone(model_pack: ModelPack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backbone]:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2))
    model = model_pack.model("efficientnet_lite0")
    session = runtime.session("efficientnet_lite0", warmup=False)
    yield Backbone(session, model.path, model.sha256, tmp_path_factory.mktemp("features"))


@pytest.fixture(scope="session")
def trained_pack(
    fish_slice: Path, backbone: Backbone, tmp_path_factory: pytest.TempPathFactory
) -> SpeciesPack:
    """The real head mode on the slice, INT8 included, with one species held out.

    No early stopping and light regularisation (not the default recipe's): trained to the end
    on so little data, the head is overconfident, which is what temperature scaling is for and
    what the calibration test checks it corrects. The head reads the backbone's features
    alone: with the default taps it separates this slice perfectly, and a perfect validation
    set gives the calibration and threshold tests nothing to measure (test_taps.py trains
    the default taps on the same slice).
    """

    def make(folder: Path) -> SpeciesPack:
        options = TrainOptions(
            data=fish_slice, out=folder / "slice", holdout=(HOLDOUT,),
            views=1, validation_fraction=0.34, taps=PLAIN,
            head=HeadConfig(epochs=100, patience=100, dropout=0.2, weight_decay=0.01),
            calibration_images=8,
            name="test-slice", version="0.0.1",
        )  # fmt: skip
        return train_head_pack(options, backbone, progress=lambda line: None)

    return made_once(tmp_path_factory, "packs", make, lambda folder: load_pack(folder / "slice"))


def options_like(pack: SpeciesPack, out: Path, **changes: object) -> TrainOptions:
    """What ``pack`` was trained with (its data, split and held-out species)."""
    training = pack.training()
    base = TrainOptions(
        data=Path(training["data"]["root"]), out=out, holdout=tuple(training["held_out"]),
        validation_fraction=training["split"]["validation_fraction"], seed=training["seed"],
        calibration_images=8, name="test-combined", version="0.0.2",
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def finetuned_96(
    trained_pack: SpeciesPack, model_pack: ModelPack, tmp_path_factory: pytest.TempPathFactory
) -> SpeciesPack:
    """Two optimiser steps at 96 px on the trained pack's own split, INT8 included."""
    config = FinetuneConfig(
        epochs=1, batch_size=4, workers=0, max_steps=2, ema_decay=0.0, input_size=96
    )

    def make(folder: Path) -> SpeciesPack:
        import torch  # here: collecting the suite imports no torch (test_collection_imports.py)

        torch.set_num_threads(2)
        pth = model_pack.source_path("efficientnet_lite0", "pth")
        options = options_like(trained_pack, folder / "pack", version="0.0.1-ft96")
        return finetune_pack(options, config, pth, "cpu", lambda line: None)

    return made_once(tmp_path_factory, "ft", make, lambda folder: load_pack(folder / "pack"))
