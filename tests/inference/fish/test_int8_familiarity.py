"""The INT8 model answers ``no_fish`` by a familiarity threshold chosen on its own values.

Quantising the backbone lowers familiarity, so the FP32 threshold would turn away more fish
on the INT8 model than it was chosen to; each model's threshold is the same rule on its own
familiarity of the validation photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.fish.calibrate import familiarity_threshold
from inference.fish.classify import SpeciesClassifier
from inference.fish.dataset import load_dataset
from inference.fish.default_pack import build_from_head
from inference.fish.images import read_image
from inference.fish.installed import DEFAULT_ASSETS
from inference.fish.pack import INT8_FAMILIARITY_FILE, SpeciesPack, load_pack, write_pack
from inference.pack.install import FISH_BACKBONE_ID
from inference.pack.installed import ModelPack
from inference.runtime import ThreadBudget
from inference.runtime.providers import CPU, plan_providers
from tests.conftest import shared_path

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


def _classifier(pack: SpeciesPack, precision: str) -> SpeciesClassifier:
    return SpeciesClassifier(
        pack, precision=precision, plan=plan_providers([CPU]), threads=ThreadBudget(1)
    )


def _validation_photos(pack: SpeciesPack) -> list[Path]:
    """The photos whose familiarity chose the thresholds (training's split, known species)."""
    groups = set(pack.training()["split"]["validation_groups"])
    known = {s.id for s in pack.species}
    root = Path(pack.training()["data"]["root"])
    return [
        s.path for s in load_dataset(root).samples if s.group in groups and s.species_id in known
    ]


def _own_threshold(pack: SpeciesPack, precision: str, photos: list[Path]) -> float:
    values = _classifier(pack, precision).scores([read_image(p) for p in photos])[1]
    assert values is not None
    return familiarity_threshold(values, pack.thresholds.fish_acceptance or 0.0)


def test_the_int8_model_answers_by_a_threshold_chosen_on_its_own_familiarity(
    trained_pack: SpeciesPack,
) -> None:
    photos = _validation_photos(trained_pack)
    int8 = _own_threshold(trained_pack, "int8", photos)
    fp32 = trained_pack.thresholds.familiarity
    assert fp32 is not None and abs(int8 - fp32) > 1e-3, "the models must differ to tell"
    assert _classifier(trained_pack, "int8").familiarity_threshold == pytest.approx(int8, abs=1e-5)
    assert _classifier(trained_pack, "fp32").familiarity_threshold == fp32
    assert fp32 == pytest.approx(_own_threshold(trained_pack, "fp32", photos), abs=1e-4)


def test_an_int8_model_without_its_own_threshold_uses_no_familiarity(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """A pack made before INT8 models had their own: the FP32 threshold is never borrowed."""
    build = {n: trained_pack.root / n for n in trained_pack.sha256 if n != INT8_FAMILIARITY_FILE}
    older = write_pack(
        tmp_path / "older", name=trained_pack.name, version="0.0.1-old",
        backbone_sha256=trained_pack.backbone_sha256, build=build,
        input_sizes=trained_pack.input_sizes,
    )  # fmt: skip
    assert INT8_FAMILIARITY_FILE in trained_pack.sha256
    assert _classifier(older, "int8").familiarity_threshold is None
    assert _classifier(older, "fp32").familiarity_threshold == trained_pack.thresholds.familiarity


def test_a_default_pack_built_with_calibration_photos_gets_its_int8_threshold(
    model_pack: ModelPack, tmp_path: Path
) -> None:
    """From the photos of the head's validation groups in the calibration folder (a few of
    them here, with photos of training tracks, which must not count). The INT8 calibration
    draws the 4 training-track photos only: one batch (a last batch smaller than the first
    fails, a limit of its own)."""
    f4k = shared_path("data", "fish", "f4k")
    training = json.loads((DEFAULT_ASSETS / "training.json").read_text())
    groups = set(training["split"]["validation_groups"])
    samples = load_dataset(f4k).samples
    photos = tmp_path / "photos"
    chosen: list[Path] = []
    for species in ("fish_01", "fish_05", "fish_12", "fish_16"):
        mine = [s for s in samples if s.species_id == species]
        inside = [s.path for s in mine if s.group in groups][:3]
        outside = [s.path for s in mine if s.group not in groups][:1]
        (photos / species).mkdir(parents=True)
        for path in inside + outside:
            (photos / species / path.name).symlink_to(path)
        chosen += [photos / species / p.name for p in inside]
    backbone = model_pack.model(FISH_BACKBONE_ID).path
    pack = build_from_head(DEFAULT_ASSETS, tmp_path / "pack", backbone, calibration=photos)
    body = json.loads((pack.root / INT8_FAMILIARITY_FILE).read_text())
    assert body["validation_images"] == len(chosen) == 12
    expected = _own_threshold(pack, "int8", chosen)
    assert load_pack(pack.root).int8_familiarity == pytest.approx(expected, abs=1e-5)
    assert _classifier(pack, "int8").familiarity_threshold == pytest.approx(expected, abs=1e-5)
