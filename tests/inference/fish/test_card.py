"""The model card: what it claims for each species must be what validation measured."""

from __future__ import annotations

from inference.fish.calibrate import Thresholds
from inference.fish.card import UNSPECIFIED, CardInfo, render_card
from inference.fish.types import Species


def _card(counts: dict[str, dict[str, int]], per_species: dict[str, dict[str, float]]) -> str:
    species = tuple(Species(sid, sid.upper()) for sid in counts)
    validation = {"top1": 1.0, "top5": 1.0, "macro_f1": 1.0, "n": 3, "ece": 0.0,
                  "per_species": per_species}  # fmt: skip
    info = CardInfo(
        name="p", version="1", mode="head", command="jaga fish train", backbone="b",
        backbone_sha256="0" * 64, source=UNSPECIFIED, group_source="groups.csv",
        species=species, held_out=(), counts=counts, validation=validation,
        ece_before=0.1, open_set=None, thresholds=Thresholds(1.0, 0.2, 0.5, 0.95, 0.9),
        training={}, input_sizes=(224,),
    )  # fmt: skip
    return render_card(info)


def test_a_species_with_no_validation_images_gets_no_recall() -> None:
    """A species whose only group trains it is never validated: its row says so, rather
    than a recall (nan, or whatever an empty class scores)."""
    counts = {
        "a": {"train_images": 9, "train_groups": 3, "val_images": 3, "val_groups": 1},
        "b": {"train_images": 2, "train_groups": 1, "val_images": 0, "val_groups": 0},
    }
    per_species = {"a": {"recall": 1.0, "n": 3}, "b": {"recall": 1.0, "n": 0}}
    card = _card(counts, per_species)
    (row_b,) = [line for line in card.splitlines() if line.startswith("| b |")]
    assert row_b == "| b | B | 2 (1) | 0 (0) | no validation images |"
    assert "| a | A | 9 (3) | 3 (1) | 1.000 |" in card
    assert "- Trained on but not validated (no validation images): b (B)" in card
