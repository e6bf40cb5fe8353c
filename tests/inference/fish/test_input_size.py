"""Packs that declare their input side: a fine-tune trained at the crops' own scale.

The side is read from each pack's manifest. A pack of another side than 224 is classified at
that side and written as schema 2, so that devices which assume 224 refuse it whole; a pack
of several sides (a combined pack) takes one input per side and is schema 3; a
contract this code does not prepare, or a model that does not take the declared side, is
refused rather than fed the wrong pixels, and the pack in use stays.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from inference.fish.classify import SpeciesClassifier
from inference.fish.errors import SpeciesPackError
from inference.fish.images import read_image
from inference.fish.pack import SpeciesPack, load_pack, write_pack
from inference.runtime import ThreadBudget
from inference.runtime.providers import CPU, plan_providers

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]

Manifest = dict[str, Any]


def _classifier(pack: SpeciesPack) -> SpeciesClassifier:
    return SpeciesClassifier(pack, plan=plan_providers([CPU]), threads=ThreadBudget(1))


def _crops(pack: SpeciesPack, n: int) -> list[np.ndarray]:
    root = Path(pack.training()["data"]["root"])
    return [read_image(p) for p in sorted(root.glob("*/*.png"))[:n]]


def _reissued(pack: SpeciesPack, folder: Path, *sides: int) -> SpeciesPack:
    """The same files under a manifest that declares ``sides`` (the model itself is 224)."""
    build: dict[str, Path | dict[str, Any] | str] = {n: pack.root / n for n in pack.sha256}
    return write_pack(
        folder, name=pack.name, version=f"{pack.version}+{'-'.join(map(str, sides))}",
        backbone_sha256=pack.backbone_sha256, build=build, input_sizes=sides,
    )  # fmt: skip


def _manifest(pack: SpeciesPack) -> Manifest:
    body: Manifest = json.loads((pack.root / "manifest.json").read_text())
    return body


def _edited(pack: SpeciesPack, folder: Path, edit: Callable[[Manifest], object]) -> Path:
    shutil.copytree(pack.root, folder)
    manifest = _manifest(pack)
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_224_pack_stays_schema_1_and_another_side_is_schema_2(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    assert trained_pack.input_size == 224
    assert _manifest(trained_pack)["schema"] == 1
    sized = _reissued(trained_pack, tmp_path / "p160", 160)
    manifest = _manifest(sized)
    # Readers before this change accept schema 1 only: they refuse this pack whole.
    assert manifest["schema"] == 2
    assert manifest["input"]["shape"] == ["N", 3, 160, 160]
    assert load_pack(sized.root).input_size == 160


def test_a_pack_of_two_sides_is_schema_3_with_an_input_per_side(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    two = _reissued(trained_pack, tmp_path / "p2", 224, 160)
    manifest = _manifest(two)
    assert manifest["schema"] == 3
    assert manifest["input"]["name"] == "input"
    assert [(c["name"], c["shape"]) for c in manifest["more_inputs"]] == [
        ("input_160", ["N", 3, 160, 160])
    ]
    loaded = load_pack(two.root)
    assert (loaded.input_sizes, loaded.input_names) == ((224, 160), ("input", "input_160"))
    with pytest.raises(SpeciesPackError, match="a pack takes each side once"):
        _reissued(trained_pack, tmp_path / "twice", 224, 224)


def test_a_model_without_an_input_its_manifest_declares_is_refused(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """The manifest says 224 and 160, the model takes 224 alone: refused at load."""
    classifier = _classifier(trained_pack)
    with pytest.raises(SpeciesPackError, match="does not take the 224/160 px input"):
        classifier.switch_pack(_reissued(trained_pack, tmp_path / "p2", 224, 160).root)
    assert classifier.pack.version == trained_pack.version


def _second_input(**fields: object) -> Callable[[Manifest], object]:
    def edit(manifest: Manifest) -> None:
        manifest["schema"] = 3
        manifest["more_inputs"] = [dict(manifest["input"], name="input_160",
                                        shape=["N", 3, 160, 160]) | fields]  # fmt: skip

    return edit


def _two_inputs_as_schema_2(manifest: Manifest) -> None:
    _second_input()(manifest)
    manifest["schema"] = 2


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_second_input(colour="BGR"), "not one this version of jaga prepares"),
        (_second_input(name="input"), "not one input per side, named for it"),
        (_second_input(name="input_96"), "not one input per side, named for it"),
        (_second_input(name="input_224", shape=["N", 3, 224, 224]), "not one input per side"),
        (_two_inputs_as_schema_2, "a 224/160 px pack must not be schema 2"),
    ],
    ids=["colour", "same-name", "misnamed", "same-side", "schema"],
)
def test_a_second_input_this_code_does_not_prepare_is_refused(
    trained_pack: SpeciesPack,
    tmp_path: Path,
    edit: Callable[[Manifest], object],
    match: str,
) -> None:
    with pytest.raises(SpeciesPackError, match=match):
        load_pack(_edited(trained_pack, tmp_path / "edited", edit))


def _set_input(**fields: object) -> Callable[[Manifest], object]:
    return lambda manifest: manifest["input"].update(fields)


def _sized_as_schema_1(manifest: Manifest) -> None:
    manifest["input"]["shape"] = ["N", 3, 160, 160]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_set_input(preprocess="letterbox-v9"), "not one this version of jaga prepares"),
        (_set_input(colour="BGR"), "not one this version of jaga prepares"),
        (_set_input(resize="stretch"), "not one this version of jaga prepares"),
        (_set_input(shape=["N", 3, 160, 224]), "not one this version of jaga prepares"),
        (_set_input(shape=["N", 3, 16, 16]), "64-512 px square"),
        (_set_input(shape=["N", 3, "224", "224"]), "not one this version of jaga prepares"),
        (lambda manifest: manifest.pop("input"), "not one this version of jaga prepares"),
        (_sized_as_schema_1, "a 160 px pack must not be schema 1"),
    ],
    ids=["preprocess", "colour", "resize", "not-square", "too-small", "text", "absent", "schema"],
)
def test_an_input_contract_this_code_does_not_prepare_is_refused(
    trained_pack: SpeciesPack,
    tmp_path: Path,
    edit: Callable[[Manifest], object],
    match: str,
) -> None:
    classifier = _classifier(trained_pack)
    edited = _edited(trained_pack, tmp_path / "edited", edit)
    with pytest.raises(SpeciesPackError, match=match):
        classifier.switch_pack(edited)
    assert classifier.pack.version == trained_pack.version


def test_a_model_that_does_not_take_its_declared_side_is_refused(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """The manifest says 160, the model takes 224: refused at load, not at the first photo."""
    classifier = _classifier(trained_pack)
    mislabelled = _reissued(trained_pack, tmp_path / "p160", 160)
    with pytest.raises(SpeciesPackError, match="does not take the 160 px input"):
        classifier.switch_pack(mislabelled.root)
    assert classifier.pack.version == trained_pack.version
    assert classifier.classify(_crops(trained_pack, 1))[0].pack_version == trained_pack.version


def test_a_finetune_at_96_px_makes_a_pack_classified_at_96(finetuned_96: SpeciesPack) -> None:
    """Two optimiser steps, then the real export: the ONNX model, the manifest, the card and
    the classifier all work at the side the fine-tune trained at. The session's fine-tune
    (conftest.py: ``finetune_pack`` at 96 px, as here before; the ensemble tests combine it)
    rather than one more of its own, 16 s of CPU."""
    pack = finetuned_96
    assert pack.input_size == 96
    graph_input = onnx.load(pack.model_path("fp32")).graph.input[0]
    assert [d.dim_value for d in graph_input.type.tensor_type.shape.dim][1:] == [3, 96, 96]
    assert "96 x 96 px" in (pack.root / "card.md").read_text()
    assert pack.training()["finetune"]["input_size"] == 96
    predictions = _classifier(pack).classify(_crops(pack, 3))
    assert len(predictions) == 3
    assert all(abs(sum(s.probability for s in p.top_k) - 1) < 1e-4 for p in predictions)
