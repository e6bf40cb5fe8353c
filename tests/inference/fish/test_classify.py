"""The classifier: top-k with calibrated probabilities, unknown, review, bad input, pack switch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.errors import ImageError
from inference.fish.calibrate import Thresholds
from inference.fish.classify import SpeciesClassifier
from inference.fish.errors import PackVerificationError, SpeciesPackError
from inference.fish.images import read_image
from inference.fish.pack import SpeciesPack, load_pack, write_pack
from inference.fish.types import FishPrediction, FishStatus, Species, SpeciesScore
from inference.runtime import ThreadBudget
from inference.runtime.providers import CPU, plan_providers

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


def _classifier(pack: SpeciesPack, precision: str = "fp32") -> SpeciesClassifier:
    return SpeciesClassifier(
        pack, precision=precision, plan=plan_providers([CPU]), threads=ThreadBudget(1)
    )


def _crops(pack: SpeciesPack, n: int = 4) -> list[np.ndarray]:
    root = Path(pack.training()["data"]["root"])
    return [read_image(p) for p in sorted(root.glob("*/*.png"))[:n]]


def _with_thresholds(
    pack: SpeciesPack, folder: Path, open_set: float, review: float
) -> SpeciesPack:
    """The same pack re-issued with other thresholds (a new manifest, so it verifies)."""
    t = pack.thresholds
    thresholds = Thresholds(t.temperature, open_set, review, t.known_acceptance, t.review_precision)
    changed = {"thresholds.json": thresholds.to_json()}
    return _rewrite(pack, folder, f"{pack.version}+t{open_set}", changed)


def _rewrite(
    pack: SpeciesPack, destination: Path, version: str, changed: dict[str, Any] | None = None
) -> SpeciesPack:
    """``pack``'s files, those in ``changed`` replaced by these JSON bodies, written as a
    new pack at ``destination`` (with its own manifest, so each file verifies)."""
    build: dict[str, Path | dict[str, Any] | str] = {n: pack.root / n for n in pack.sha256}
    return write_pack(
        destination, name=pack.name, version=version, backbone_sha256=pack.backbone_sha256,
        build=build | (changed or {}), input_sizes=pack.input_sizes,
    )  # fmt: skip


def test_batched_top_k_with_calibrated_probabilities(trained_pack: SpeciesPack) -> None:
    predictions = _classifier(trained_pack).classify(_crops(trained_pack), top_k=3)
    assert len(predictions) == 4
    for prediction in predictions:
        assert len(prediction.top_k) == 3
        assert prediction.pack_version == trained_pack.version
        assert prediction.status in (FishStatus.IDENTIFIED, FishStatus.UNKNOWN)
        assert 0 < sum(s.probability for s in prediction.top_k) <= 1.0 + 1e-5


def test_low_confidence_is_unknown_and_flagged(trained_pack: SpeciesPack, tmp_path: Path) -> None:
    strict = _with_thresholds(trained_pack, tmp_path / "strict", open_set=1.0, review=1.0)
    for prediction in _classifier(strict).classify(_crops(trained_pack)):
        assert prediction.status is FishStatus.UNKNOWN and prediction.species is None
        assert prediction.needs_review and prediction.top_k  # candidates still shown
    lenient = _with_thresholds(trained_pack, tmp_path / "lenient", open_set=0.0, review=0.0)
    for prediction in _classifier(lenient).classify(_crops(trained_pack)):
        assert prediction.status is FishStatus.IDENTIFIED and not prediction.needs_review
        assert prediction.species == prediction.top_k[0].species


def test_review_flag_sits_between_the_thresholds(trained_pack: SpeciesPack, tmp_path: Path) -> None:
    review_all = _with_thresholds(trained_pack, tmp_path / "review", open_set=0.0, review=1.0)
    for prediction in _classifier(review_all).classify(_crops(trained_pack)):
        assert prediction.status is FishStatus.IDENTIFIED and prediction.needs_review


def test_blank_and_tiny_images_are_no_fish_not_a_species(trained_pack: SpeciesPack) -> None:
    blank = np.full((120, 160, 3), 37, dtype=np.uint8)
    tiny = np.random.default_rng(0).integers(0, 255, (8, 30, 3), dtype=np.uint8)
    crops = [blank, _crops(trained_pack, 1)[0], tiny.astype(np.uint8)]
    no_fish, fish, too_small = _classifier(trained_pack).classify(crops)
    assert no_fish.status is FishStatus.NO_FISH and "blank" in no_fish.reason
    assert too_small.status is FishStatus.NO_FISH and "smaller" in too_small.reason
    assert fish.status is not FishStatus.NO_FISH and no_fish.needs_review


def test_corrupt_or_wrong_images_are_clear_errors(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    classifier = _classifier(trained_pack)
    with pytest.raises(ImageError, match=r"broken\.png"):
        classifier.classify_files([corrupt])
    with pytest.raises(ImageError, match="HxWx3 uint8"):
        classifier.classify([np.zeros((50, 50), dtype=np.float32)])


def test_a_damaged_pack_is_refused_and_the_old_one_stays(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    classifier = _classifier(trained_pack)
    damaged = tmp_path / "damaged"
    shutil.copytree(trained_pack.root, damaged)
    model = damaged / "species_fp32.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(PackVerificationError, match="does not match its sha256"):
        classifier.switch_pack(damaged)
    assert classifier.pack.version == trained_pack.version
    assert classifier.classify(_crops(trained_pack, 1))[0].pack_version == trained_pack.version


def test_a_model_that_does_not_fit_its_species_list_is_refused(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """A species list one shorter than the model's outputs verifies, file by file; the model
    would then name a species the list lacks. Loading it runs one crop and refuses it."""
    species = json.loads((trained_pack.root / "species.json").read_text())
    species["species"] = species["species"][:-1]
    short = _rewrite(trained_pack, tmp_path / "short", "0.0.9-short", {"species.json": species})
    classifier = _classifier(trained_pack)
    with pytest.raises(SpeciesPackError, match="not one per each of the 4 species"):
        classifier.switch_pack(short.root)
    assert classifier.pack.version == trained_pack.version


def test_a_model_outside_the_verified_files_is_refused(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """The manifest may only name a model among the files it checksums: a path ending in a
    verified file's name is another, unverified file."""
    edited = tmp_path / "edited"
    shutil.copytree(trained_pack.root, edited)
    (edited / "sub").mkdir()
    shutil.copy(edited / "species_fp32.onnx", edited / "sub" / "species_fp32.onnx")
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["models"]["fp32"] = "sub/species_fp32.onnx"
    (edited / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SpeciesPackError, match="lists no verified model"):
        load_pack(edited)


def test_a_pack_that_would_be_refused_never_replaces_a_working_one(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """``write_pack`` verifies the new pack in its staging folder: a species list naming one
    species twice is refused there, and the pack already at the destination stays as it was,
    with nothing left beside it."""
    destination = tmp_path / "packs" / "current"
    shutil.copytree(trained_pack.root, destination)
    species = json.loads((trained_pack.root / "species.json").read_text())
    species["species"][1] = species["species"][0]
    with pytest.raises(SpeciesPackError, match="each species once"):
        _rewrite(trained_pack, destination, "0.0.9-twice", {"species.json": species})
    assert load_pack(destination).version == trained_pack.version
    assert [p.name for p in destination.parent.iterdir()] == ["current"]


def test_a_swap_cut_short_puts_the_working_pack_back(
    trained_pack: SpeciesPack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = tmp_path / "packs" / "current"
    shutil.copytree(trained_pack.root, destination)
    rename = Path.rename

    def refuse_the_new_pack(self: Path, target: Path) -> Path:
        if Path(target) == destination and not self.name.endswith(".old"):
            raise OSError(5, "Input/output error")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", refuse_the_new_pack)
    with pytest.raises(OSError, match="Input/output error"):
        _rewrite(trained_pack, destination, "0.0.9-next")
    assert load_pack(destination).version == trained_pack.version
    assert [p.name for p in destination.parent.iterdir()] == ["current"]


def test_switching_to_a_good_pack_takes_effect(trained_pack: SpeciesPack, tmp_path: Path) -> None:
    classifier = _classifier(trained_pack)
    other = _with_thresholds(trained_pack, tmp_path / "next", open_set=0.0, review=0.0)
    assert classifier.switch_pack(other.root).version == other.version
    assert classifier.classify(_crops(trained_pack, 1))[0].pack_version == other.version


def test_edited_thresholds_without_a_new_manifest_are_refused(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(trained_pack.root, edited)
    thresholds = json.loads((edited / "thresholds.json").read_text())
    thresholds["open_set"] = 0.0
    (edited / "thresholds.json").write_text(json.dumps(thresholds))
    with pytest.raises(PackVerificationError, match=r"thresholds\.json"):
        load_pack(edited)
    (edited / "manifest.json").unlink()
    with pytest.raises(SpeciesPackError, match=r"manifest\.json is missing"):
        load_pack(edited)


def test_int8_classifier_runs(trained_pack: SpeciesPack) -> None:
    predictions = _classifier(trained_pack, "int8").classify(_crops(trained_pack, 2))
    assert all(p.top_k for p in predictions)


def test_fish_prediction_is_checked_on_construction() -> None:
    a, b = Species("a", "A"), Species("b", "B")
    with pytest.raises(ValueError, match="sorted"):
        FishPrediction(
            FishStatus.IDENTIFIED, (SpeciesScore(a, 0.2), SpeciesScore(b, 0.7)), False, "1"
        )
    with pytest.raises(ValueError, match="always needs review"):
        FishPrediction(FishStatus.UNKNOWN, (SpeciesScore(a, 0.3),), False, "1")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SpeciesScore(a, 1.5)


@pytest.mark.parametrize("version", ["2026.1.0\u202e", "../2026.1.0", "2026.1.0\n"])
def test_a_pack_whose_version_no_record_may_hold_is_refused(
    trained_pack: SpeciesPack, tmp_path: Path, version: str
) -> None:
    """A catch carries its pack's version to the hub as a name: a hand-built or ``--pack``
    pack whose version the wire (or a device's pack folder) refuses would make every catch
    unrecordable, late, so the pack itself is refused as it loads."""
    edited = tmp_path / "edited"
    shutil.copytree(trained_pack.root, edited)
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["version"] = version
    (edited / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SpeciesPackError, match="species pack version is"):
        load_pack(edited)
