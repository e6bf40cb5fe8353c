"""The model card written into every species pack (Markdown)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inference.fish.types import Species

if TYPE_CHECKING:  # numpy: not for `jaga fish`'s parser, which lists KNOWN_SOURCES
    from inference.fish.calibrate import Thresholds


@dataclass(frozen=True)
class DataSource:
    name: str
    terms: str


KNOWN_SOURCES: Mapping[str, DataSource] = {
    "fish4knowledge": DataSource(
        name=(
            "Fish4Knowledge fish recognition ground truth (23 reef species, underwater video "
            "of Taiwanese coral reefs); the images are not distributed with this pack"
        ),
        terms=(
            "Research use. Cite: B. J. Boom, P. X. Huang, J. He, R. B. Fisher, 'Supporting "
            "ground-truth annotation of image datasets using clustering', 21st International "
            "Conference on Pattern Recognition (ICPR), 2012."
        ),
    ),
}
UNSPECIFIED = DataSource(
    name="not stated: say where the photos come from before distributing this pack",
    terms="not stated: say under which terms the photos may be used",
)


@dataclass(frozen=True)
class CardInfo:
    name: str
    version: str
    mode: str
    command: str
    backbone: str  # the model pack's id of the backbone, e.g. efficientnet_lite2
    backbone_sha256: str
    source: DataSource
    group_source: str
    species: tuple[Species, ...]
    held_out: tuple[Species, ...]
    counts: Mapping[str, Mapping[str, int]]  # species id -> train/val images and groups
    validation: Mapping[str, Any]  # classification_summary after calibration
    ece_before: float
    open_set: Mapping[str, Any] | None
    thresholds: Thresholds
    training: Mapping[str, Any]  # best epoch, seconds, augmentation views, configuration
    input_sizes: tuple[int, ...]  # crops are letterboxed to each of these sides


def render_card(info: CardInfo) -> str:
    return "\n".join(
        [
            f"# Fish species pack {info.name} {info.version}",
            "",
            "Classifies a photo (or crop) of one fish into the species below, with calibrated",
            "probabilities. It answers `unknown` below the open-set threshold and flags a",
            "prediction for human review below the review threshold.",
            "",
            *_section("Model", _model_lines(info)),
            *_section("Data", _data_lines(info)),
            *_section("Validation (track-disjoint)", _metric_lines(info)),
            *_section("Thresholds", _threshold_lines(info.thresholds)),
            *_section("Species", _species_table(info)),
            *_section("Limitations", _LIMITATIONS),
        ]
    )


_LIMITATIONS = [
    "- Trained on crops from fixed underwater cameras; photos on deck (out of water, other",
    "  light, other poses) are a different distribution. Check on local photos before trusting",
    "  the confidences, and retrain with corrected photos (`jaga fish export-training-set`).",
    "- Species with few tracks have few validation images: their recall is a rough estimate.",
    "- The validation images also chose the best epoch, the temperature and the thresholds,",
    "  so the figures above are somewhat optimistic; for an unbiased figure, run",
    "  `jaga fish eval` on photos kept out of training.",
    "- `unknown` is decided from confidence alone; a species that looks like a known one can",
    "  still be named as that one with high confidence.",
]


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"## {title}", "", *lines, ""]


def _model_lines(info: CardInfo) -> list[str]:
    return [
        f"- Mode: `{info.mode}`; backbone `{info.backbone}` (ImageNet, Apache-2.0), "
        f"sha256 `{info.backbone_sha256[:16]}…`",
        f"- Input: {_sides(info.input_sizes)} px RGB, each crop letterboxed"
        + (" once per side, one graph input each" if len(info.input_sizes) > 1 else ""),
        f"- Training: {_fmt_mapping(info.training)}",
        f"- Command: `{info.command}`",
    ]


def _sides(sides: tuple[int, ...]) -> str:
    return " and ".join(f"{side} x {side}" for side in sides)


def _data_lines(info: CardInfo) -> list[str]:
    train = sum(c["train_images"] for c in info.counts.values())
    val = sum(c["val_images"] for c in info.counts.values())
    held = ", ".join(f"{s.id} ({s.name})" for s in info.held_out) or "none"
    return [
        f"- Source: {info.source.name}",
        f"- Terms: {info.source.terms}",
        f"- Split groups: {info.group_source}; no group is in both train and validation",
        f"- Images: {train} train, {val} validation; held out of training as unknown: {held}",
        *_unvalidated_line(info),
    ]


def _unvalidated_line(info: CardInfo) -> list[str]:
    """A species whose only group (track, trip) trains it has no validation images: the
    figures below say nothing about it."""
    names = [f"{s.id} ({s.name})" for s in info.species if not info.counts[s.id]["val_images"]]
    if not names:
        return []
    return [f"- Trained on but not validated (no validation images): {', '.join(names)}"]


def _metric_lines(info: CardInfo) -> list[str]:
    v = info.validation
    lines = [
        f"- top-1 {v['top1']:.4f}, top-5 {v['top5']:.4f}, macro-F1 {v['macro_f1']:.4f} "
        f"on {v['n']} images",
        f"- ECE (15 bins) {info.ece_before:.4f} before and {v['ece']:.4f} after temperature "
        "scaling (fitted on these images, so the second figure is optimistic)",
    ]
    if info.open_set:
        o = info.open_set
        lines.append(
            f"- Open set: AUROC {o['auroc']:.4f} ({o['n_unknown']} images of held-out species); "
            f"at the threshold {o['known_accepted']:.3f} of known accepted, "
            f"{o['unknown_rejected']:.3f} of unknown rejected"
        )
    return lines


def _threshold_lines(t: Thresholds) -> list[str]:
    review = (
        f"- Review: top-1 probability < {t.review:.4f} → flagged for review "
        f"(predictions at or above it were {t.review_precision:.0%} accurate on validation)"
        if t.review < 1.0
        else f"- Review: every prediction is flagged (no confidence cut was "
        f"{t.review_precision:.0%} accurate on validation)"
    )
    lines = [
        f"- Temperature {t.temperature:.4f} (inside the ONNX graph)",
        f"- Open set: top-1 probability < {t.open_set:.4f} → `unknown` "
        f"(keeps {t.known_acceptance:.0%} of validation photos of known species)",
        review,
    ]
    if t.familiarity is not None and t.fish_acceptance is not None:
        lines.append(
            f"- Familiarity: best cosine similarity to the species' mean training features "
            f"< {t.familiarity:.4f} → `no_fish`, flagged for review (keeps "
            f"{t.fish_acceptance:.0%} of validation photos; a photo of something else, a "
            "face or a room, is like none of the species however sure the top-1 is)"
        )
    return lines


def _species_table(info: CardInfo) -> list[str]:
    rows = [
        "| id | species | train images (groups) | val images (groups) | val recall |",
        "| --- | --- | --- | --- | --- |",
    ]
    per_species = info.validation["per_species"]
    for s in info.species:
        c = info.counts[s.id]
        validated = c["val_images"] and per_species[s.id]["n"]
        recall = f"{per_species[s.id]['recall']:.3f}" if validated else "no validation images"
        rows.append(
            f"| {s.id} | {s.name} | {c['train_images']} ({c['train_groups']}) | "
            f"{c['val_images']} ({c['val_groups']}) | {recall} |"
        )
    return rows


def _fmt_mapping(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in values.items())
