"""What ``jaga fish eval`` says about familiarity: the fish it turns away, the rest it keeps out.

A pack whose classifier answers ``no_fish`` below a familiarity threshold turns away some
photos of its own species (about ``1 - fish_acceptance`` of validation by construction, more
on photos unlike its training ones). The report counts them among the fish evaluated, overall
and per species, and, given photos that are not fish, how well familiarity separates the two
(AUROC, fish positive) and what share of those photos the pack rejects. A not-fish photo the
quality gate rejects (blank, blurred) is rejected too, before familiarity is computed: it
counts as rejected, not in the AUROC, which is over the photos familiarity scored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.errors import ImageError
from inference.fish.dataset import IMAGE_SUFFIXES
from inference.fish.errors import DatasetError
from inference.fish.images import FloatArray, QualityGate, UInt8Image, read_image
from inference.fish.metrics import IntArray, auroc
from inference.fish.types import Species

Scorer = Callable[[Sequence[UInt8Image]], FloatArray]


@dataclass(frozen=True)
class NotFish:
    """Familiarity of the not-fish photos the quality gate passed, and what else there was."""

    familiarity: FloatArray
    gate_rejected: int
    unreadable: int


def check_not_fish_folders(folders: Sequence[Path]) -> None:
    """Refuse a missing folder, or one without an image, before any work: a mistyped path
    would otherwise read as a run that measured nothing ("0 images that are not fish")."""
    for folder in folders:
        if not folder.is_dir():
            raise DatasetError(f"--not-fish {folder} is not a folder")
        if not not_fish_images([folder]):
            raise DatasetError(f"--not-fish {folder} holds no images")


def not_fish_images(folders: Sequence[Path]) -> list[Path]:
    """Every image under the folders, in any subfolder (LFW keeps one per person)."""
    found: list[Path] = []
    for folder in folders:
        for parent, _, names in sorted(os.walk(folder)):
            found += sorted(
                Path(parent, n) for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES
            )
    return found


def score_not_fish(paths: Sequence[Path], gate: QualityGate, familiarity: Scorer) -> NotFish:
    images: list[UInt8Image] = []
    gate_rejected = unreadable = 0
    for path in paths:
        try:
            image = read_image(path)
        except ImageError:
            unreadable += 1
            continue
        if gate.reject_reason(image):
            gate_rejected += 1
        else:
            images.append(image)
    return NotFish(familiarity(images), gate_rejected, unreadable)


def familiarity_summary(
    threshold: float,
    fish: FloatArray,
    labels: IntArray,
    species: Sequence[Species],
    not_fish: NotFish | None,
) -> dict[str, Any]:
    """``fish``: the familiarity of each evaluated fish photo, ``labels`` its species."""
    turned_away = fish < threshold
    per_species = {}
    for index, s in enumerate(species):
        mine = turned_away[labels == index]
        per_species[s.id] = {
            "n": len(mine),
            "no_fish": int(mine.sum()),
            "no_fish_rate": _rate(mine),
        }
    return {
        "threshold": threshold,
        "n": len(fish),
        "no_fish": int(turned_away.sum()),
        "no_fish_rate": _rate(turned_away),
        "median": float(np.median(fish)) if len(fish) else None,
        "per_species": per_species,
        "not_fish": None if not_fish is None else _not_fish_summary(threshold, fish, not_fish),
    }


def answered_top1(
    predicted: IntArray, labels: IntArray, turned_away: np.ndarray[Any, Any], gate_rejected: int = 0
) -> float:
    """The share of fish photos answered with their species: a ``no_fish`` is not one, by
    familiarity (``turned_away``) or by the quality gate (``gate_rejected`` more photos,
    which have no prediction)."""
    total = len(labels) + gate_rejected
    if total == 0:
        return float("nan")
    return float(((predicted == labels) & ~turned_away).sum() / total)


def _not_fish_summary(threshold: float, fish: FloatArray, not_fish: NotFish) -> dict[str, Any]:
    unfamiliar = int((not_fish.familiarity < threshold).sum())
    judged = len(not_fish.familiarity) + not_fish.gate_rejected
    return {
        "n": judged,
        "unreadable": not_fish.unreadable,
        "gate_rejected": not_fish.gate_rejected,
        "unfamiliar": unfamiliar,
        "rejected_rate": (unfamiliar + not_fish.gate_rejected) / judged if judged else None,
        "auroc": auroc(fish, not_fish.familiarity) if len(not_fish.familiarity) else None,
        "median": float(np.median(not_fish.familiarity)) if len(not_fish.familiarity) else None,
    }


def _rate(flags: np.ndarray[Any, Any]) -> float | None:
    return float(flags.mean()) if len(flags) else None
