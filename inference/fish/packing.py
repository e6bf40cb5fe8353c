"""What both training modes share after the model is trained: calibrate on validation,
measure, and write the species pack with its card."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.fish.calibrate import (
    DEFAULT_FISH_ACCEPTANCE,
    Thresholds,
    choose_thresholds,
    familiarity_threshold,
)
from inference.fish.card import UNSPECIFIED, CardInfo, DataSource, render_card
from inference.fish.config import (
    BACKBONE_ID,
    DEFAULT_KNOWN_ACCEPTANCE,
    DEFAULT_REVIEW_PRECISION,
    HeadConfig,
    check_at_least,
    check_fraction,
)
from inference.fish.head import HeadWeights, head_to_json
from inference.fish.images import INPUT_SIZE, FloatArray, round_robin_batches
from inference.fish.metrics import IntArray, expected_calibration_error, softmax
from inference.fish.pack import (
    CARD_FILE,
    HEAD_FILE,
    MODEL_FILES,
    SPECIES_FILE,
    THRESHOLDS_FILE,
    TRAINING_FILE,
    SpeciesPack,
    species_json,
    write_pack,
)
from inference.fish.summary import classification_summary, open_set_summary, worst_recall
from inference.fish.taps import DEFAULT_TAPS
from inference.fish.trainset import PreparedData

Progress = Callable[[str], None]
WriteLock = Callable[[], AbstractContextManager[object]]


@dataclass(frozen=True)
class TrainOptions:
    data: Path
    out: Path
    holdout: tuple[str, ...] = ()
    seed: int = 0
    views: int = 4  # head mode: augmented views per training image whose features are cached
    taps: tuple[str, ...] = DEFAULT_TAPS  # head mode: the backbone outputs the head reads
    backbone: str = BACKBONE_ID  # the installed model's id, named in the card
    validation_fraction: float = 0.2
    head: HeadConfig = field(default_factory=HeadConfig)
    known_acceptance: float = DEFAULT_KNOWN_ACCEPTANCE
    review_precision: float = DEFAULT_REVIEW_PRECISION
    int8: bool = True
    calibration_images: int = 96  # for INT8 activation ranges, drawn across species
    name: str = "fish-species"
    version: str | None = None
    source: DataSource = UNSPECIFIED
    command: str = ""
    # Held only while the finished pack is written and renamed into ``out``, never while it
    # trains: the CLI's is the models folder's install lock when ``out`` is in it.
    write_lock: WriteLock = contextlib.nullcontext

    def __post_init__(self) -> None:
        """A bad value is refused before any image is read, not after a training run."""
        check_fraction("the validation fraction", self.validation_fraction)
        check_fraction("the known acceptance", self.known_acceptance, one_allowed=True)
        check_fraction("the review precision", self.review_precision, one_allowed=True)
        check_at_least("views", self.views, 0)
        check_at_least("calibration images", self.calibration_images, 1)


@dataclass(frozen=True)
class Assessment:
    thresholds: Thresholds
    validation: dict[str, Any]  # classification_summary after calibration, + worst recall
    ece_before: float
    open_set: dict[str, Any] | None


def assess(
    data: PreparedData,
    val_logits: FloatArray,
    val_labels: IntArray,
    unknown_logits: FloatArray,
    options: TrainOptions,
) -> Assessment:
    """Temperature and thresholds from validation, and what they give on it."""
    thresholds = choose_thresholds(
        val_logits, val_labels,
        known_acceptance=options.known_acceptance, review_precision=options.review_precision,
    )  # fmt: skip
    probabilities = softmax(val_logits / thresholds.temperature)
    validation = classification_summary(probabilities, val_labels, data.known)
    tracks = {sid: c["train_groups"] + c["val_groups"] for sid, c in data.counts().items()}
    validation["worst_recall"] = worst_recall(validation, tracks)
    open_set = None
    if len(unknown_logits):
        unknown = softmax(unknown_logits / thresholds.temperature)
        open_set = open_set_summary(
            probabilities.max(axis=1), unknown.max(axis=1), thresholds.open_set
        )
    ece_before = expected_calibration_error(softmax(val_logits), val_labels)
    return Assessment(thresholds, validation, ece_before, open_set)


def with_familiarity(
    assessment: Assessment, validation: FloatArray, fish_acceptance: float = DEFAULT_FISH_ACCEPTANCE
) -> Assessment:
    """The assessment with the familiarity threshold chosen on the validation images'
    familiarity (from a head with species prototypes: both modes)."""
    thresholds = dataclasses.replace(
        assessment.thresholds,
        familiarity=familiarity_threshold(validation, fish_acceptance),
        fish_acceptance=fish_acceptance,
    )
    return dataclasses.replace(assessment, thresholds=thresholds)


@dataclass(frozen=True)
class Trained:
    """A trained model ready to be packed."""

    mode: str
    models: dict[str, Path]  # precision -> ONNX file (in a scratch folder)
    backbone_sha256: str
    details: dict[str, Any]  # mode-specific: epochs, configuration, timings
    head: HeadWeights | None = None
    # The side the models take (a fine-tune may choose it); a combined pack takes several.
    input_sizes: tuple[int, ...] = (INPUT_SIZE,)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # more JSON files to pack


def write_species_pack(
    data: PreparedData, assessment: Assessment, trained: Trained, options: TrainOptions,
    progress: Progress,
) -> SpeciesPack:  # fmt: skip
    version = options.version or default_version(trained)
    training = training_record(data, assessment, trained, options)
    card = render_card(card_info(data, assessment, trained, options, version))
    build: dict[str, Path | dict[str, Any] | str] = {
        **{MODEL_FILES[p]: path for p, path in trained.models.items()},
        SPECIES_FILE: species_json(data.known, data.held_out),
        THRESHOLDS_FILE: assessment.thresholds.to_json(),
        TRAINING_FILE: training,
        CARD_FILE: card,
        **trained.files,
    }
    if trained.head is not None:
        build[HEAD_FILE] = head_to_json(trained.head)
    progress(f"writing pack {version} to {options.out}")
    with options.write_lock():
        return write_pack(
            options.out, name=options.name, version=version,
            backbone_sha256=trained.backbone_sha256, build=build, input_sizes=trained.input_sizes,
        )  # fmt: skip


def calibration_batches(data: PreparedData, limit: int, size: int = INPUT_SIZE) -> list[FloatArray]:
    """Training images for INT8 calibration, drawn across species (``round_robin_batches``)."""
    per_species: dict[int, list[Path]] = {}
    for index, label in zip(data.train, data.labels(data.train), strict=True):
        per_species.setdefault(int(label), []).append(data.dataset.samples[index].path)
    ordered = [paths for _, paths in sorted(per_species.items())]
    return round_robin_batches(ordered, limit, size=size)


def _is_record(value: object) -> bool:
    if isinstance(value, list):
        return any(isinstance(item, dict) for item in value)
    return isinstance(value, dict)


def default_version(trained: Trained) -> str:
    digest = hashlib.sha256(trained.models["fp32"].read_bytes()).hexdigest()[:8]
    return f"{dt.datetime.now(dt.UTC):%Y.%m.%d}-{digest}"


def training_record(
    data: PreparedData, assessment: Assessment, trained: Trained, options: TrainOptions
) -> dict[str, Any]:
    return {
        "mode": trained.mode,
        "backbone": options.backbone,
        "seed": options.seed,
        "command": options.command,
        **trained.details,
        "data": {
            "root": str(options.data),
            "group_source": data.dataset.group_source,
            "images": len(data.dataset.samples),
            "rejected": [[str(path), reason] for path, reason in data.rejected],
        },
        "split": {
            "validation_fraction": options.validation_fraction,
            "validation_groups": sorted(data.validation_groups),
        },
        "counts": data.counts(),
        "held_out": [s.id for s in data.held_out],
        "validation": assessment.validation,
        "ece_before_calibration": assessment.ece_before,
        "open_set": assessment.open_set,
        "thresholds": assessment.thresholds.to_json() | {"rules": "see thresholds.json"},
    }


def card_info(
    data: PreparedData, assessment: Assessment, trained: Trained, options: TrainOptions,
    version: str,
) -> CardInfo:  # fmt: skip
    # Records (a configuration, an epoch history, member packs) stay in training.json; the
    # card's one training line takes the plain figures.
    summary = {k: v for k, v in trained.details.items() if not _is_record(v)}
    return CardInfo(
        name=options.name, version=version, mode=trained.mode, command=options.command,
        backbone=options.backbone, backbone_sha256=trained.backbone_sha256,
        source=options.source,
        group_source=data.dataset.group_source, species=data.known, held_out=data.held_out,
        counts=data.counts(), validation=assessment.validation, ece_before=assessment.ece_before,
        open_set=assessment.open_set, thresholds=assessment.thresholds,
        training=summary | trained.details.get("timings", {}), input_sizes=trained.input_sizes,
    )  # fmt: skip
