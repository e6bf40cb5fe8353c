"""The default pack: the repository keeps only its head; installing rebuilds the same model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.fish.default_pack import build_from_head
from inference.fish.errors import SpeciesPackError
from inference.fish.installed import DEFAULT_ASSETS, PACK_INFO
from inference.fish.pack import MODEL_FILES
from inference.pack.install import FISH_BACKBONE_ID
from inference.pack.installed import ModelPack

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
