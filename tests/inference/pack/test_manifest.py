from __future__ import annotations

from pathlib import Path

import pytest

from inference.errors import ManifestError
from inference.pack.manifest import DEFAULT_MANIFEST, load_manifest

VALID_MODEL = """
[[models]]
id = "m"
name = "m"
role = "test"
version = "1"
licence = "CC0-1.0"
file = "m.onnx"
converter = "{converter}"
card = "m.md"
[models.sources.onnx]
{source}
[models.input]
name = "input"
shape = ["N", 3, 8, 8]
example = [1, 3, 8, 8]
layout = "NCHW"
colour = "RGB"
range = "0-255"
"""
GOOD_URL = 'url = "https://example.org/m.onnx"\nsha256 = "' + "a" * 64 + '"'


def write_manifest(tmp_path: Path, converter: str = "copy", source: str = GOOD_URL) -> Path:
    path = tmp_path / "models.toml"
    header = 'schema = 1\npack = "t"\nversion = "1"\n'
    path.write_text(header + VALID_MODEL.format(converter=converter, source=source))
    return path


def test_shipped_manifest_is_valid_and_every_model_has_a_card() -> None:
    manifest = load_manifest()
    cards = DEFAULT_MANIFEST.parent / "model_cards"
    assert {spec.id for spec in manifest.models} >= {
        "yunet_n", "minifasnet_v2", "minifasnet_v1se", "dlib_resnet", "facemesh",
        "efficientnet_lite0", "efficientnet_lite2",
    }  # fmt: skip
    for spec in manifest.models:
        assert (cards / spec.card).is_file(), f"{spec.id} has no model card {spec.card}"


def test_every_shipped_model_pins_its_built_checksum() -> None:
    unpinned = [spec.id for spec in load_manifest().models if spec.sha256 is None]
    assert unpinned == []


def test_a_minimal_manifest_loads(tmp_path: Path) -> None:
    manifest = load_manifest(write_manifest(tmp_path))
    assert manifest.model("m").sources["onnx"].filename == "m.onnx"


def test_unknown_converter_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="unknown converter"):
        load_manifest(write_manifest(tmp_path, converter="magic"))


def test_unpinned_pypi_source_is_rejected(tmp_path: Path) -> None:
    source = (
        'pypi = "some-package>=1"\nartifact = "a.whl"\nartifact_sha256 = "' + "b" * 64 + '"\n'
        'member = "x/y.bin"\nsha256 = "' + "c" * 64 + '"'
    )
    with pytest.raises(ManifestError, match="pinned"):
        load_manifest(write_manifest(tmp_path, source=source))


def test_malformed_checksum_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="sha256"):
        load_manifest(
            write_manifest(tmp_path, source='url = "https://e.org/m.onnx"\nsha256 = "12"')
        )


def test_unknown_model_id_names_the_known_ones() -> None:
    with pytest.raises(ManifestError, match="yunet_n"):
        load_manifest().model("no_such_model")
