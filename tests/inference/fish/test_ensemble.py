"""``jaga fish combine``: packs of one split as one pack, the mean of their probabilities.

Real packs on the f4k slice: the session's head-mode pack (224 px) and a two-step fine-tune
at 96 px on the same split; the combined graph is checked against its members' own outputs,
each on the crops letterboxed at its own side.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from inference.fish.classify import SpeciesClassifier
from inference.fish.ensemble import combine_packs
from inference.fish.errors import SpeciesMismatchError, SpeciesPackError
from inference.fish.images import batch_inputs, letterbox, read_image, to_batch
from inference.fish.metrics import softmax
from inference.fish.pack import SpeciesPack, write_pack
from inference.fish.types import FishStatus
from inference.runtime import ThreadBudget
from inference.runtime.providers import CPU, plan_providers
from main import main
from tests.conftest import shared_path
from tests.inference.fish.conftest import HOLDOUT, SLICE, make_slice, options_like

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


def _classifier(pack: SpeciesPack) -> SpeciesClassifier:
    return SpeciesClassifier(pack, plan=plan_providers([CPU]), threads=ThreadBudget(1))


def _crops(pack: SpeciesPack, n: int) -> list[np.ndarray]:
    root = Path(pack.training()["data"]["root"])
    return [read_image(p) for p in sorted(root.glob("*/*.png"))[:n]]


def test_a_pack_combined_with_itself_answers_as_it_does(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """The arithmetic of the graph: the mean of one pack twice is that pack, re-calibrated."""
    combined = combine_packs(
        (trained_pack.root, trained_pack.root), options_like(trained_pack, tmp_path / "c"),
        lambda line: None,
    )  # fmt: skip
    crops = _crops(trained_pack, 6)
    own = _classifier(trained_pack).probabilities(crops)
    t = combined.thresholds.temperature
    expected = softmax((np.log(own) / t).astype(np.float32))
    assert np.abs(_classifier(combined).probabilities(crops) - expected).max() < 1e-4
    # The member is calibrated already: fitting the mean again finds nothing to correct.
    assert t == pytest.approx(1.0, abs=0.05)
    training = combined.training()
    assert [m["version"] for m in training["members"]] == [trained_pack.version] * 2
    assert training["validation"]["n"] == trained_pack.training()["validation"]["n"]


def test_a_224_head_and_a_96_finetune_make_one_pack_of_two_inputs(
    trained_pack: SpeciesPack, finetuned_96: SpeciesPack, tmp_path: Path
) -> None:
    """Each member gets the crop letterboxed at its own side, through its own graph input:
    nothing is resampled inside the graph."""
    combined = combine_packs(
        (trained_pack.root, finetuned_96.root), options_like(trained_pack, tmp_path / "c"),
        lambda line: None,
    )  # fmt: skip
    assert combined.input_sizes == (224, 96)
    assert combined.input_names == ("input", "input_96")
    manifest = json.loads((combined.root / "manifest.json").read_text())
    # Readers of one input feed `input` alone: schema 3 makes them refuse the pack whole.
    assert manifest["schema"] == 3
    assert [c["shape"] for c in (manifest["input"], *manifest["more_inputs"])] == [
        ["N", 3, 224, 224], ["N", 3, 96, 96]
    ]  # fmt: skip
    assert set(combined.models) == {"fp32", "int8"}
    graph = onnx.load(combined.model_path("fp32")).graph
    assert [i.name for i in graph.input] == ["input", "input_96"]
    assert not [n for n in graph.node if n.op_type == "Resize"]
    card = (combined.root / "card.md").read_text()
    assert f"{finetuned_96.version} (finetune, 96 px)" in card and "Mode: `ensemble`" in card
    assert "224 x 224 and 96 x 96 px RGB" in card
    crops = _crops(trained_pack, 4)
    expected = _mean_of_members(combined, [trained_pack, finetuned_96], crops)
    _assert_close(_classifier(combined).probabilities(crops), expected)
    for precision in ("fp32", "int8"):
        classifier = SpeciesClassifier(
            combined, precision=precision, plan=plan_providers([CPU]), threads=ThreadBudget(1)
        )
        probabilities = classifier.probabilities(_crops(trained_pack, 4))
        assert probabilities.shape == (4, len(trained_pack.species))
        assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)


def _familiarity(pack: SpeciesPack, crops: list[np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(pack.model_path("fp32")))
    feeds = batch_inputs(crops, pack.input_sizes)
    return np.asarray(session.run(["familiarity"], feeds)[0])


@pytest.mark.parametrize("head_first", [True, False])
def test_a_combined_pack_says_not_a_fish_as_its_first_member_does(
    trained_pack: SpeciesPack, finetuned_96: SpeciesPack, tmp_path: Path, head_first: bool
) -> None:
    """A combined pack was the README's best recipe and said a face was a reef fish: it now
    carries the familiarity of its first member that has one (a head, or a fine-tune from its
    own features), with the threshold chosen again on the validation split they share, so
    the same."""
    members = [trained_pack, finetuned_96] if head_first else [finetuned_96, trained_pack]
    first = members[0]
    assert first.thresholds.familiarity is not None
    combined = combine_packs(
        [m.root for m in members], options_like(trained_pack, tmp_path / "c"), lambda line: None
    )
    assert combined.thresholds.familiarity == pytest.approx(first.thresholds.familiarity, abs=1e-5)
    assert "Familiarity" in (combined.root / "card.md").read_text()
    crops = _crops(trained_pack, 4)
    for precision in combined.models:
        graph = onnx.load(combined.model_path(precision)).graph
        assert "familiarity" in [o.name for o in graph.output], precision
    # The INT8 graph answers by a threshold of its own, as its first member's INT8 model does.
    assert combined.int8_familiarity == pytest.approx(first.int8_familiarity, abs=1e-5)
    assert np.allclose(_familiarity(combined, crops), _familiarity(first, crops), atol=1e-5)
    face = sorted(shared_path("data", "faces", "johns", "John_Simm").glob("*.jpg"))[0]
    (answer,) = _classifier(combined).classify_files([face])
    assert answer.status is FishStatus.NO_FISH, answer


def _assert_close(probabilities: np.ndarray, expected: np.ndarray) -> None:
    """Close in log space too: a confident pack's probabilities sit near 0 and 1, where other
    pixels for one member (a resampled letterbox) move them by less than 1e-4."""
    assert np.abs(probabilities - expected).max() < 1e-4
    assert np.abs(np.log(probabilities) - np.log(expected)).max() < 1e-3


def _mean_of_members(
    combined: SpeciesPack, members: list[SpeciesPack], crops: list[np.ndarray]
) -> np.ndarray:
    """softmax(log(mean of the members' probabilities) / T), each member run by itself on
    the crops letterboxed at its own side, as it was trained and validated."""
    probabilities = []
    for member in members:
        own = ort.InferenceSession(str(member.model_path("fp32")))
        batch = to_batch([letterbox(crop, member.input_size) for crop in crops])
        probabilities.append(own.run(["probabilities"], {"input": batch})[0])
    mean = np.mean(probabilities, axis=0)
    return softmax((np.log(mean) / combined.thresholds.temperature).astype(np.float32))


def test_three_packs_weigh_a_third_each(
    trained_pack: SpeciesPack, finetuned_96: SpeciesPack, tmp_path: Path
) -> None:
    """Not the mean of a pair and the third: the head given twice weighs two thirds. The
    smaller side may come first; the two 224 px members share one input."""
    members = [finetuned_96, trained_pack, trained_pack]
    combined = combine_packs([m.root for m in members], options_like(trained_pack, tmp_path / "c"),
                             lambda line: None)  # fmt: skip
    assert combined.input_sizes == (96, 224)
    crops = _crops(trained_pack, 4)
    expected = _mean_of_members(combined, members, crops)
    _assert_close(_classifier(combined).probabilities(crops), expected)
    training = combined.training()
    assert [m["input_sizes"] for m in training["members"]] == [[96], [224], [224]]


def test_a_combined_pack_of_two_sides_can_be_a_member(
    trained_pack: SpeciesPack, finetuned_96: SpeciesPack, tmp_path: Path
) -> None:
    """Each of the member's own inputs is fed from the graph input of its side."""

    def quiet(line: str) -> None:
        pass

    pair = combine_packs((trained_pack.root, finetuned_96.root),
                         options_like(trained_pack, tmp_path / "p"), quiet)  # fmt: skip
    again = combine_packs((finetuned_96.root, pair.root),
                          options_like(trained_pack, tmp_path / "a"), quiet)  # fmt: skip
    assert again.input_sizes == (96, 224)
    assert again.training()["members"][1]["input_sizes"] == [224, 96]
    assert f"{pair.version} (ensemble, 224/96 px)" in (again.root / "card.md").read_text()
    crops = _crops(trained_pack, 4)
    mean = (_classifier(finetuned_96).probabilities(crops)
            + _classifier(pair).probabilities(crops)) / 2  # fmt: skip
    expected = softmax((np.log(mean) / again.thresholds.temperature).astype(np.float32))
    _assert_close(_classifier(again).probabilities(crops), expected)


def test_one_pack_is_not_a_combination(trained_pack: SpeciesPack, tmp_path: Path) -> None:
    with pytest.raises(SpeciesPackError, match="two or more packs"):
        combine_packs((trained_pack.root,), options_like(trained_pack, tmp_path / "c"),
                      lambda line: None)  # fmt: skip
    assert not (tmp_path / "c").exists()


def _reissued(pack: SpeciesPack, folder: Path, file_name: str, edit: Any) -> Path:
    """The pack with one JSON file edited, under a new manifest (so it verifies)."""
    build: dict[str, Path | dict[str, Any] | str] = {n: pack.root / n for n in pack.sha256}
    build[file_name] = edit(json.loads((pack.root / file_name).read_text()))
    return write_pack(folder, name=pack.name, version=f"{pack.version}+edited",
                      backbone_sha256=pack.backbone_sha256, build=build).root  # fmt: skip


def test_packs_of_another_split_or_other_species_are_refused(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """A pack validated on other images (another seed), or of other species, cannot be
    averaged with this one: nothing is written."""
    other_seed = _reissued(trained_pack, tmp_path / "seed", "training.json",
                           lambda training: training | {"seed": 1})  # fmt: skip
    with pytest.raises(SpeciesPackError, match="trained on different splits"):
        combine_packs((trained_pack.root, other_seed),
                      options_like(trained_pack, tmp_path / "c"), lambda line: None)  # fmt: skip

    def rename_first(species: dict[str, Any]) -> dict[str, Any]:
        species["species"][0]["id"] = "fish_99"
        return species

    other_species = _reissued(trained_pack, tmp_path / "species", "species.json", rename_first)
    with pytest.raises(SpeciesPackError, match="do not list the same species"):
        combine_packs((trained_pack.root, other_species),
                      options_like(trained_pack, tmp_path / "c"), lambda line: None)  # fmt: skip
    assert not (tmp_path / "c").exists()


def test_the_cli_refuses_another_data_folder_in_one_line(
    trained_pack: SpeciesPack, f4k: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The split is rebuilt from --data: a folder that gives other validation groups is not
    the one the packs were validated on."""
    data = make_slice(f4k, tmp_path / "d", {"fish_04": 3, "fish_06": 3, "fish_07": 3,
                                            "fish_09": 3, "fish_16": 3, HOLDOUT: 1})  # fmt: skip
    argv = ["fish", "combine", str(trained_pack.root), str(trained_pack.root),
            "--data", str(data), "--out", str(tmp_path / "c")]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "does not give the validation split" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "c").exists()


def test_a_data_folder_with_another_species_list_is_refused(
    trained_pack: SpeciesPack, f4k: Path, tmp_path: Path
) -> None:
    """One more species of a single track leaves the validation groups as they were, yet
    numbers every label after it one further: thresholds fitted on those labels would name
    the wrong species. The species lists are compared, and nothing is written."""
    data = make_slice(f4k, tmp_path / "d", {**SLICE, "fish_05": 1, HOLDOUT: 3})
    options = options_like(trained_pack, tmp_path / "c", data=data)
    with pytest.raises(SpeciesMismatchError, match="not the species pack"):
        combine_packs((trained_pack.root, trained_pack.root), options, lambda line: None)
    assert not (tmp_path / "c").exists()
