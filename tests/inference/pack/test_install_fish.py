"""Installing the fish backbone builds the default species pack on it: verified, idempotent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inference.fish.default_pack import PACK_INFO
from inference.fish.errors import SpeciesPackError
from inference.fish.installed import DEFAULT_ASSETS, INSTALLED_FOLDER
from inference.fish.pack import MODEL_FILES, SPECIES_FILE, load_pack
from inference.pack.files import sha256_of
from inference.pack.install import FISH_BACKBONE_ID, install
from inference.pack.installed import ModelPack
from inference.pack.manifest import Manifest

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


@pytest.fixture
def backbone_only(model_pack: ModelPack, tmp_path: Path) -> ModelPack:
    """A model pack holding only the installed fish backbone (copied, with its record)."""
    spec = model_pack.manifest.model(FISH_BACKBONE_ID)
    manifest = Manifest.model_validate(
        {"schema": 1, "pack": "t", "version": "1", "models": [spec.model_dump()]}
    )
    pack = ModelPack(tmp_path / "models", manifest)
    pack.root.mkdir()
    source = model_pack.model(FISH_BACKBONE_ID).path
    shutil.copyfile(source, pack.root / spec.file)
    pack.write_record(spec, sha256_of(source))
    return pack


def test_install_builds_the_default_species_pack_once(backbone_only: ModelPack) -> None:
    pack = backbone_only
    outcomes = install(pack, pack.manifest.models)
    assert [(o.model_id, o.action) for o in outcomes] == [
        (FISH_BACKBONE_ID, "up to date"), ("fish-default", "built"),
    ]  # fmt: skip
    species = load_pack(pack.root / INSTALLED_FOLDER)  # verifies every file's sha256
    info = json.loads((DEFAULT_ASSETS / PACK_INFO).read_text())
    assert species.version == info["version"] and len(species.species) == 23
    assert species.sha256[MODEL_FILES["fp32"]] == info["fp32_sha256"]
    again = install(pack, pack.manifest.models)
    assert [o.action for o in again] == ["up to date", "up to date"]


def test_a_damaged_species_pack_is_rebuilt_by_the_next_install(backbone_only: ModelPack) -> None:
    pack = backbone_only
    install(pack, pack.manifest.models)
    species_file = pack.root / INSTALLED_FOLDER / SPECIES_FILE
    species_file.write_text(species_file.read_text().replace("Chromis", "Chromix"))
    with pytest.raises(SpeciesPackError, match="does not match its sha256"):
        load_pack(pack.root / INSTALLED_FOLDER)
    assert [o.action for o in install(pack, pack.manifest.models)][-1] == "built"
    assert "Chromis" in species_file.read_text()
    load_pack(pack.root / INSTALLED_FOLDER)


def test_a_head_for_another_backbone_leaves_the_installed_pack_alone(
    backbone_only: ModelPack, tmp_path: Path
) -> None:
    from inference.fish.default_pack import ensure_default_pack

    pack = backbone_only
    install(pack, pack.manifest.models)
    installed = pack.root / INSTALLED_FOLDER
    before = sha256_of(installed / "manifest.json")
    other = tmp_path / "other-assets"
    shutil.copytree(DEFAULT_ASSETS, other)
    info = json.loads((other / PACK_INFO).read_text())
    (other / PACK_INFO).write_text(json.dumps({**info, "backbone_sha256": "0" * 64}))
    with pytest.raises(SpeciesPackError, match="trained on backbone"):
        ensure_default_pack(pack.model(FISH_BACKBONE_ID).path, installed, assets=other)
    assert sha256_of(installed / "manifest.json") == before
    load_pack(installed)


def test_installing_other_models_does_not_touch_the_species_pack(
    backbone_only: ModelPack,
) -> None:
    pack = backbone_only
    assert install(pack, []) == []
    assert not (pack.root / INSTALLED_FOLDER).exists()
