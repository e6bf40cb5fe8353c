"""The default pack: the repository keeps only its head; installing rebuilds the same model."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.fish import export
from inference.fish.dataset import load_dataset
from inference.fish.default_pack import build_from_head, calibration_images
from inference.fish.errors import SpeciesPackError
from inference.fish.images import FloatArray, letterbox, read_image, to_batch
from inference.fish.installed import DEFAULT_ASSETS, PACK_INFO
from inference.fish.pack import INT8_FAMILIARITY_FILE, MODEL_FILES, load_pack
from inference.pack.install import FISH_BACKBONE_ID
from inference.pack.installed import ModelPack
from tests.conftest import shared_path

pytestmark = pytest.mark.skipif(
    not (DEFAULT_ASSETS / PACK_INFO).exists(), reason="no default head in assets/fish/default"
)


def test_the_repository_keeps_no_model_weights_of_others_and_no_images() -> None:
    suffixes = {path.suffix for path in DEFAULT_ASSETS.iterdir()}
    assert suffixes <= {".json", ".md"}
    assert sum(path.stat().st_size for path in DEFAULT_ASSETS.iterdir()) < 1_000_000


@pytest.mark.needs_shared
def test_rebuilding_gives_the_recorded_model_byte_for_byte(
    model_pack: ModelPack, tmp_path: Path
) -> None:
    backbone = model_pack.model(FISH_BACKBONE_ID).path
    pack = build_from_head(DEFAULT_ASSETS, tmp_path / "default", backbone)
    info = json.loads((DEFAULT_ASSETS / PACK_INFO).read_text())
    assert pack.sha256[MODEL_FILES["fp32"]] == info["fp32_sha256"]
    assert pack.version == info["version"] and len(pack.species) == 23


def test_a_head_for_another_backbone_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not the backbone")
    with pytest.raises(SpeciesPackError, match="trained on backbone"):
        build_from_head(DEFAULT_ASSETS, tmp_path / "out", other)


@pytest.mark.needs_shared
def test_a_head_naming_a_species_no_record_may_hold_is_refused_and_the_pack_stays(
    model_pack: ModelPack, default_species_pack: Path, tmp_path: Path
) -> None:
    """Every catch of such a species would be refused when recorded (the wire's Name): the
    build refuses the pack, naming the species, and the pack it would replace stays."""
    head = Path(shutil.copytree(DEFAULT_ASSETS, tmp_path / "head"))
    body = json.loads((head / "species.json").read_text())
    body["species"][1]["name"] += "\u202e"
    (head / "species.json").write_text(json.dumps(body))
    out = Path(shutil.copytree(default_species_pack, tmp_path / "pack"))
    before = load_pack(out).sha256
    backbone = model_pack.model(FISH_BACKBONE_ID).path
    named = rf"species {body['species'][1]['id']!r}: .*'\\u202e'"
    with pytest.raises(SpeciesPackError, match=named):
        build_from_head(head, out, backbone)
    assert load_pack(out).sha256 == before


@pytest.mark.needs_shared
def test_the_card_names_the_backbone_the_head_was_trained_on(model_pack: ModelPack) -> None:
    """The card is what a reviewer reads: it must not name another backbone than the one
    whose checksum the head records (it once said Lite0 over a Lite2 head)."""
    card = (DEFAULT_ASSETS / "card.md").read_text()
    model = model_pack.model(FISH_BACKBONE_ID)
    head_backbone = json.loads((DEFAULT_ASSETS / PACK_INFO).read_text())["backbone_sha256"]
    assert head_backbone == model.sha256
    assert (
        f"backbone `{FISH_BACKBONE_ID}` (ImageNet, Apache-2.0), sha256 `{model.sha256[:16]}" in card
    )


@pytest.mark.needs_shared
def test_int8_calibration_never_sees_the_heads_validation_photos(
    model_pack: ModelPack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``build-pack --calibration`` is given the whole f4k folder, validation tracks and all;
    activation ranges set on the photos the INT8 model is then evaluated on would flatter it.
    Two photos of each of four species from validation tracks, two from training tracks:
    only the training ones may be drawn."""
    f4k = shared_path("data", "fish", "f4k")
    training = json.loads((DEFAULT_ASSETS / "training.json").read_text())
    groups = set(training["split"]["validation_groups"])
    samples = load_dataset(f4k).samples
    photos, outside = tmp_path / "photos", []
    for species in ("fish_01", "fish_05", "fish_12", "fish_16"):
        mine = [s for s in samples if s.species_id == species]
        inside = [s.path for s in mine if s.group in groups][:2]
        kept = [s.path for s in mine if s.group not in groups][:2]
        (photos / species).mkdir(parents=True)
        for path in inside + kept:
            (photos / species / path.name).symlink_to(path)
        outside += kept
    drawn: list[str] = []

    def recording(fp32: Path, output: Path, calibration: Sequence[FloatArray]) -> None:
        drawn.extend(_digest(image) for batch in calibration for image in batch)
        shutil.copyfile(fp32, output)  # the ranges are not under test, the photos are

    monkeypatch.setattr(export, "quantize_int8", recording)
    backbone = model_pack.model(FISH_BACKBONE_ID).path
    build_from_head(DEFAULT_ASSETS, tmp_path / "pack", backbone, calibration=photos)
    expected = {_digest(to_batch([letterbox(read_image(p), 224)])[0]) for p in outside}
    assert len(drawn) == len(expected) == 8
    assert set(drawn) == expected


@pytest.mark.needs_shared
def test_a_calibration_folder_with_none_of_the_heads_validation_groups_is_noted(
    model_pack: ModelPack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``build-pack --calibration`` leaves the head's validation groups out of calibration
    by their names: a folder where none of them is found is another data set, or the
    training folder with its groups renamed, whose validation photos then set the INT8
    ranges unnoticed. It is built (other photos of the species calibrate well) and said."""
    from main import main

    f4k = shared_path("data", "fish", "f4k")
    groups = set(json.loads((DEFAULT_ASSETS / "training.json").read_text())["split"][
        "validation_groups"])  # fmt: skip
    mine = [s for s in load_dataset(f4k).samples if s.species_id == "fish_01"]
    outside = tmp_path / "outside" / "fish_01"
    outside.mkdir(parents=True)
    for sample in [s for s in mine if s.group not in groups][:2]:
        (outside / sample.path.name).symlink_to(sample.path)
    with_validation = Path(shutil.copytree(outside.parent, tmp_path / "with", symlinks=True))
    inside = next(s for s in mine if s.group in groups)
    (with_validation / "fish_01" / inside.path.name).symlink_to(inside.path)
    monkeypatch.setattr(export, "quantize_int8", lambda fp32, out, _: shutil.copyfile(fp32, out))

    def build(photos: Path, out: str) -> str:
        args = ["fish", "build-pack", "--head", str(DEFAULT_ASSETS), "--out",
                str(tmp_path / out), "--models-dir", str(model_pack.root),
                "--calibration", str(photos)]  # fmt: skip
        assert main(args) == 0
        return capsys.readouterr().out

    said = build(outside.parent, "noted")
    assert f"none of the groups of {outside.parent}" in said
    assert f"the head's {len(groups)} validation groups" in said
    assert (tmp_path / "noted" / MODEL_FILES["int8"]).exists()  # built all the same
    quiet = build(with_validation, "quiet")
    assert "validation groups" not in quiet and "no species folder" not in quiet
    # The validation photos found, but under a folder the head does not list: the INT8
    # model got no familiarity threshold without a word.
    renamed = Path(shutil.copytree(with_validation, tmp_path / "renamed", symlinks=True))
    (renamed / "fish_01").rename(renamed / "dascyllus")
    unlisted = build(renamed, "unlisted")
    assert f"the head's validation photos in {renamed} are in no species folder" in unlisted
    assert INT8_FAMILIARITY_FILE not in load_pack(tmp_path / "unlisted").sha256


def test_a_calibration_folder_of_validation_photos_only_is_refused(tmp_path: Path) -> None:
    for species in ("fish_01", "fish_02"):
        (tmp_path / species).mkdir()
        cv2.imwrite(
            str(tmp_path / species / f"{species}_1.png"), np.full((40, 40, 3), 90, np.uint8)
        )
    groups = {sample.group for sample in load_dataset(tmp_path).samples}
    with pytest.raises(SpeciesPackError, match="outside the head's validation groups"):
        calibration_images(tmp_path, exclude_groups=groups)


def _digest(image: FloatArray) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()
