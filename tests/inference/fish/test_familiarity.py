"""Familiarity: a photo of something that is not a fish is answered ``no_fish``, not a species.

The quality gate passes any photo with texture, and a linear head can be sure of a species on
a photo of anything: a face once got Plectroglyphidodon dickii at 94.9 %, "identified, review
not needed". The default pack now carries its species' mean features; a crop like none of
them is ``no_fish`` and goes to review, while its validation fish still pass (99.05 % of the
739 images of the f4k seed-0 split, where the threshold was chosen).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import onnx
import pytest

from inference.fish import export
from inference.fish.calibrate import Thresholds
from inference.fish.classify import SpeciesClassifier
from inference.fish.default_pack import build_from_head
from inference.fish.head import load_head
from inference.fish.images import read_image
from inference.fish.installed import DEFAULT_ASSETS
from inference.fish.pack import SpeciesPack, load_pack, write_pack
from inference.fish.trainset import prepare
from inference.fish.types import FishStatus
from inference.pack.install import FISH_BACKBONE_ID
from inference.pack.installed import ModelPack
from inference.runtime import ThreadBudget
from inference.runtime.providers import CPU, plan_providers
from tests.conftest import shared_path

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]
VALIDATION_SAMPLE = 96  # of the 739 validation crops, evenly spaced: seconds, not a minute


def _classifier(pack: SpeciesPack) -> SpeciesClassifier:
    return SpeciesClassifier(pack, plan=plan_providers([CPU]), threads=ThreadBudget(1))


@pytest.fixture(scope="module")
def default_pack(model_pack: ModelPack, tmp_path_factory: pytest.TempPathFactory) -> SpeciesPack:
    """The default pack as an install builds it, in a scratch folder."""
    backbone = model_pack.model(FISH_BACKBONE_ID).path
    return build_from_head(DEFAULT_ASSETS, tmp_path_factory.mktemp("fish") / "default", backbone)


def _face() -> Path:
    return sorted(shared_path("data", "faces", "johns", "John_Simm").glob("*.jpg"))[0]


def test_a_face_photo_is_not_identified_as_a_fish(default_pack: SpeciesPack) -> None:
    (prediction,) = _classifier(default_pack).classify_files([_face()])
    assert prediction.status is FishStatus.NO_FISH, prediction
    assert prediction.needs_review and prediction.species is None
    assert prediction.reason.startswith("not like any species of the pack")


def test_a_person_in_a_spoof_sample_is_not_identified(default_pack: SpeciesPack) -> None:
    photo = shared_path("data", "spoof", "samples", "image_T1.jpg")
    (prediction,) = _classifier(default_pack).classify_files([photo])
    assert prediction.status is FishStatus.NO_FISH


def test_validation_fish_still_pass_familiarity(default_pack: SpeciesPack) -> None:
    data = prepare(shared_path("data", "fish", "f4k"), seed=0)  # the pack's split
    step = len(data.validation) // VALIDATION_SAMPLE
    paths = data.paths(data.validation[::step][:VALIDATION_SAMPLE])
    predictions = _classifier(default_pack).classify_files(paths)
    rejected = [
        p for p, r in zip(paths, predictions, strict=True) if r.status is FishStatus.NO_FISH
    ]
    assert len(rejected) <= 0.03 * len(paths), rejected  # measured: 0.95 % of all 739


def test_a_pack_without_familiarity_answers_as_before(
    model_pack: ModelPack, default_pack: SpeciesPack, tmp_path: Path
) -> None:
    """An older pack (no ``familiarity`` output, no threshold for it) loads and classifies;
    with nothing to tell a face by, it still names a species, as packs always did."""
    head = dataclasses.replace(load_head(DEFAULT_ASSETS / "head.json"), prototypes=None)
    thresholds = dataclasses.replace(default_pack.thresholds, familiarity=None,
                                     fish_acceptance=None)  # fmt: skip
    model = tmp_path / "species_fp32.onnx"
    backbone = onnx.load(model_pack.model(FISH_BACKBONE_ID).path)
    export.save_model(export.species_model(backbone, head, thresholds.temperature), model)
    assert "familiarity" not in {o.name for o in onnx.load(model).graph.output}
    body = thresholds.to_json()
    assert "familiarity" not in body and Thresholds.from_json(body) == thresholds
    old = write_pack(
        tmp_path / "old", name="old", version="0.1", backbone_sha256=default_pack.backbone_sha256,
        build={"species_fp32.onnx": model, "thresholds.json": body,
               "species.json": json.loads((default_pack.root / "species.json").read_text())},
    )  # fmt: skip
    classifier = _classifier(load_pack(old.root))
    (face,) = classifier.classify_files([_face()])
    assert face.status is FishStatus.IDENTIFIED
    fish = read_image(
        next(iter(sorted(shared_path("data", "fish", "f4k", "fish_04").glob("*.png"))))
    )
    assert classifier.classify([fish])[0].status is not FishStatus.NO_FISH
