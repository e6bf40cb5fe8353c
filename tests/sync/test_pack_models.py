"""A species pack's ONNX models are checked as what an ONNX file is, a protobuf
``ModelProto``, without a model runtime (sync may not import one): a model cut short or
garbled is refused, whatever sha256 its manifest gives it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sync.pack_models import check_pack_models
from sync.species_packs import PackArchiveError, archive_pack, check_manifest_files
from tests.sync.test_species_packs import make_pack

REPO = Path(__file__).resolve().parents[2]
# The default species pack `jaga models install` builds (scripts/test.sh sets JAGA_MODELS_DIR).
REAL_PACK = Path(os.environ.get("JAGA_MODELS_DIR", REPO / ".cache" / "models")) / "fish-default"


def real_pack(tmp_path: Path, model: Callable[[bytes], bytes] = bytes) -> Path:
    """A copy of the default pack, its fp32 model passed through ``model`` and its sha256
    in the manifest computed again: only a look inside the model can tell."""
    if not (REAL_PACK / "manifest.json").is_file():
        pytest.skip(f"no species pack built by `jaga models install` in {REAL_PACK}")
    copy = Path(shutil.copytree(REAL_PACK, tmp_path / "real-pack"))
    manifest = json.loads((copy / "manifest.json").read_text())
    name = manifest["models"]["fp32"]
    data = model((copy / name).read_bytes())
    (copy / name).write_bytes(data)
    manifest["files"][name] = hashlib.sha256(data).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_the_default_packs_model_passes(tmp_path: Path) -> None:
    check_pack_models(archive_pack(real_pack(tmp_path)))


BROKEN: dict[str, Callable[[bytes], bytes]] = {
    "cut in half": lambda model: model[: len(model) // 2],
    "cut short by a byte": lambda model: model[:-1],
    "cut to its first bytes": lambda model: model[:100],
    "empty": lambda model: b"",
    "not a model": lambda model: b"<html>captive portal</html>",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_model_is_refused_though_its_sha256_matches(case: str, tmp_path: Path) -> None:
    data = archive_pack(real_pack(tmp_path, BROKEN[case]))
    check_manifest_files(data)  # the manifest's own rule lets it through
    with pytest.raises(PackArchiveError, match=r"species_fp32\.onnx is not a whole ONNX model"):
        check_pack_models(data)


def test_a_model_the_manifest_names_but_the_archive_lacks_is_refused(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "pack")
    manifest = json.loads((pack / "manifest.json").read_text())
    (pack / "manifest.json").write_text(json.dumps(manifest | {"models": {"fp32": "gone.onnx"}}))
    with pytest.raises(PackArchiveError, match=r"gone\.onnx"):
        check_pack_models(archive_pack(pack))


def _drop_from_files(manifest: dict[str, Any]) -> dict[str, Any]:
    files = {name: sha for name, sha in manifest["files"].items() if not name.endswith(".onnx")}
    return manifest | {"files": files}


def _model_in_a_subfolder(manifest: dict[str, Any], pack: Path) -> dict[str, Any]:
    """The model moved to ``models/``, listed there with its sha256 and named so."""
    (pack / "models").mkdir()
    (pack / "species_fp32.onnx").rename(pack / "models" / "species_fp32.onnx")
    files = {("models/" + n if n == "species_fp32.onnx" else n): s
             for n, s in manifest["files"].items()}  # fmt: skip
    return manifest | {"files": files, "models": {"fp32": "models/species_fp32.onnx"}}


def _without_listed(name: str) -> Callable[[dict[str, Any], Path], dict[str, Any]]:
    def drop(manifest: dict[str, Any], _: Path) -> dict[str, Any]:
        return manifest | {"files": {n: s for n, s in manifest["files"].items() if n != name}}

    return drop


# How a manifest can name a model the device never verified, or leave out what the device
# needs verified; each is refused by both sides.
MODEL_RULES: dict[str, Callable[[dict[str, Any], Path], dict[str, Any]]] = {
    "whole": lambda manifest, _: manifest,
    "model not in files": lambda manifest, _: _drop_from_files(manifest),
    "model by another path": lambda m, _: m | {"models": {"fp32": "./species_fp32.onnx"}},
    "no models": lambda manifest, _: manifest | {"models": {}},
    "model in a subfolder": _model_in_a_subfolder,
    "species.json not in files": _without_listed("species.json"),
    "thresholds.json not in files": _without_listed("thresholds.json"),
}


@pytest.mark.parametrize("case", sorted(MODEL_RULES))
def test_the_hub_refuses_a_packs_models_exactly_when_the_device_does(
    case: str, tmp_path: Path
) -> None:
    """The device's ``load_pack`` uses a model only if its manifest lists it in ``files``
    (verified); a pack it refuses must not be published (the same rule)."""
    from inference.fish.errors import SpeciesPackError
    from inference.fish.pack import load_pack

    pack = real_pack(tmp_path)
    manifest = json.loads((pack / "manifest.json").read_text())
    (pack / "manifest.json").write_text(json.dumps(MODEL_RULES[case](manifest, pack)))
    try:
        load_pack(pack)
        device_refuses = False
    except SpeciesPackError:
        device_refuses = True
    data = archive_pack(pack)
    try:
        check_manifest_files(data)
        check_pack_models(data)
        hub_refuses = False
    except PackArchiveError:
        hub_refuses = True
    assert (hub_refuses, device_refuses) == (case != "whole", case != "whole")
