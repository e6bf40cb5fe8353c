"""The head mode end to end on a slice of Fish4Knowledge: a verified pack that keeps its word."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from inference.fish.config import HeadConfig
from inference.fish.graph_contract import FAMILIARITY, OUTPUTS, PROBABILITIES
from inference.fish.head import load_head
from inference.fish.images import letterbox, read_image, to_batch
from inference.fish.metrics import softmax
from inference.fish.pack import HEAD_FILE, MODEL_FILES, SpeciesPack
from inference.fish.packing import TrainOptions
from inference.fish.train import Backbone, train_head_pack
from tests.inference.fish.conftest import HOLDOUT, SLICE, make_slice

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


def test_the_pack_records_a_track_disjoint_split(trained_pack: SpeciesPack) -> None:
    training = trained_pack.training()
    validation_groups = set(training["split"]["validation_groups"])
    assert validation_groups and all(g.startswith("track:") for g in validation_groups)
    counts = training["counts"]
    assert set(counts) == set(SLICE)
    assert all(c["val_groups"] >= 1 and c["train_groups"] >= 1 for c in counts.values())
    assert [s.id for s in trained_pack.held_out] == [HOLDOUT]
    assert {s.id for s in trained_pack.species} == set(SLICE)


def test_calibration_lowers_ece_on_validation(trained_pack: SpeciesPack) -> None:
    training = trained_pack.training()
    assert training["validation"]["ece"] < training["ece_before_calibration"]


def test_thresholds_and_card_are_in_the_pack(trained_pack: SpeciesPack) -> None:
    t = trained_pack.thresholds
    assert 0 < t.open_set <= t.review <= 1 and t.temperature > 0
    card = (trained_pack.root / "card.md").read_text()
    assert "Boom" not in card  # the slice was trained without naming a source...
    assert "not stated" in card  # ...and the card says so rather than inventing one
    assert "fish_04" in card and "ECE" in card
    # the same images chose the epoch and thresholds and are reported: the card must say so
    assert "chose the best epoch, the temperature and the thresholds" in card


def test_held_out_species_give_an_open_set_auroc(trained_pack: SpeciesPack) -> None:
    open_set = trained_pack.training()["open_set"]
    assert open_set["n_unknown"] > 0 and 0.0 <= open_set["auroc"] <= 1.0


def test_exported_graph_is_backbone_plus_head_with_the_temperature_inside(
    trained_pack: SpeciesPack,
) -> None:
    head = load_head(trained_pack.root / HEAD_FILE)
    session = ort.InferenceSession(str(trained_pack.model_path("fp32")))
    # a head-mode pack also gives familiarity (inference/fish/head.py), in the same run
    assert [o.name for o in session.get_outputs()] == [*OUTPUTS, FAMILIARITY]
    paths = sorted(Path(trained_pack.training()["data"]["root"]).glob("fish_04/*.png"))[:3]
    pixels = to_batch([letterbox(read_image(p)) for p in paths])
    features, logits, probabilities, familiarity = session.run(None, {"input": pixels})
    expected = softmax(head.logits(features) / trained_pack.thresholds.temperature)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(probabilities, softmax(logits), atol=1e-5)
    np.testing.assert_allclose(familiarity, head.familiarity(features), atol=1e-5)


def test_a_head_mode_pack_chooses_its_familiarity_threshold(trained_pack: SpeciesPack) -> None:
    """Chosen on validation at training, written in thresholds.json and the card."""
    t = trained_pack.thresholds
    assert t.fish_acceptance == 0.99 and t.familiarity is not None and -1 < t.familiarity < 1
    assert load_head(trained_pack.root / HEAD_FILE).prototypes is not None
    assert f"< {t.familiarity:.4f} → `no_fish`" in (trained_pack.root / "card.md").read_text()


def test_int8_model_is_smaller_and_mostly_agrees(trained_pack: SpeciesPack) -> None:
    fp32, int8 = (trained_pack.model_path(p) for p in ("fp32", "int8"))
    assert int8.stat().st_size < fp32.stat().st_size / 2.5
    paths = sorted(Path(trained_pack.training()["data"]["root"]).glob("*/*.png"))[::3]
    pixels = to_batch([letterbox(read_image(p)) for p in paths])
    top = [
        ort.InferenceSession(str(m)).run([PROBABILITIES], {"input": pixels})[0].argmax(1)
        for m in (fp32, int8)
    ]
    assert np.mean(top[0] == top[1]) >= 0.8


def test_manifest_lists_every_file_with_its_sha256(trained_pack: SpeciesPack) -> None:
    manifest = json.loads((trained_pack.root / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        *MODEL_FILES.values(), "head.json", "species.json", "thresholds.json", "card.md",
        "training.json", "familiarity_int8.json",
    }  # fmt: skip
    assert manifest["version"] == "0.0.1" and manifest["input"]["resize"] == "letterbox"


def test_without_held_out_species_there_is_no_open_set_figure(
    f4k: Path, backbone: Backbone, tmp_path: Path
) -> None:
    data = make_slice(f4k, tmp_path / "d", {"fish_07": 3, "fish_16": 3})
    options = TrainOptions(
        data=data, out=tmp_path / "pack", views=0, int8=False,
        head=HeadConfig(epochs=5), validation_fraction=0.34,
    )  # fmt: skip
    pack = train_head_pack(options, backbone, progress=lambda line: None)
    assert pack.training()["open_set"] is None and set(pack.models) == {"fp32"}


def test_int8_calibrates_on_a_count_of_images_that_is_no_whole_number_of_batches(
    trained_pack: SpeciesPack, fish_slice: Path, tmp_path: Path
) -> None:
    """A retrain on a few corrections calibrates on all the training images it has: 11 of
    them are a batch of 8 and one of 3, whose activations the quantiser once stacked into
    one array and crashed on (the slice's pack calibrates on one batch of 8)."""
    from inference.fish.export import quantize_int8
    from inference.fish.images import round_robin_batches

    folders = [sorted((fish_slice / name).glob("*.png")) for name in SLICE]
    batches = round_robin_batches(folders, limit=11)
    assert [len(batch) for batch in batches] == [8, 3]
    int8 = tmp_path / "species_int8.onnx"
    quantize_int8(trained_pack.model_path("fp32"), int8, batches)
    pixels = np.concatenate(batches)
    top = [
        ort.InferenceSession(str(m)).run([PROBABILITIES], {"input": pixels})[0].argmax(1)
        for m in (trained_pack.model_path("fp32"), int8)
    ]
    assert np.mean(top[0] == top[1]) >= 0.8
