"""The numbers ``jaga fish train`` writes into the card and ``jaga fish eval`` into R.json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from inference.fish.images import FloatArray
from inference.fish.metrics import (
    IntArray,
    auroc,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    per_class_scores,
    top_k_accuracy,
)
from inference.fish.types import Species

# Species with fewer tracks (groups) in the data have too little validation to judge: one
# track is all of a rare species' validation images, and moves its recall by 50-100 points.
MIN_TRACKS_FOR_RECALL = 5


def classification_summary(
    probabilities: FloatArray,
    labels: IntArray,
    species: Sequence[Species],
    no_fish: IntArray | None = None,
) -> dict[str, Any]:
    """Closed-set metrics over the known species (the open-set answer is reported apart).

    ``no_fish``: the species of photos answered ``no_fish`` before any probability (the
    quality gate's): misses in ``n``, recall, F1 and top-k; having no probabilities, they
    are outside ``ece`` and the confusion matrix (``ece_n`` counts the photos they are over).
    """
    missed = np.bincount(no_fish if no_fish is not None else np.zeros(0, np.int64),
                         minlength=len(species)).astype(np.int64)  # fmt: skip
    matrix = confusion_matrix(probabilities.argmax(axis=1), labels, len(species))
    per_species = {
        s.id: {"name": s.name, "precision": c.precision, "recall": c.recall, "f1": c.f1, "n": c.n}
        for s, c in zip(species, per_class_scores(matrix, missed), strict=True)
    }
    n_missed = int(missed.sum())
    return {
        "n": len(labels) + n_missed,
        "top1": top_k_accuracy(probabilities, labels, 1, n_missed),
        "top5": top_k_accuracy(probabilities, labels, 5, n_missed),
        "macro_f1": macro_f1(matrix, missed),
        "ece": expected_calibration_error(probabilities, labels),
        "ece_n": len(labels),
        "per_species": per_species,
        "confusion_matrix": matrix.tolist(),
    }


def open_set_summary(
    known_confidence: FloatArray,
    unknown_confidence: FloatArray,
    threshold: float,
    gate_rejected: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """How well the top-1 probability separates known species from held-out ones.

    AUROC treats "known" as the positive class scored by the top-1 probability; the rates
    say what the pack's open-set threshold does to each side. ``gate_rejected``: the known
    and the held-out photos the quality gate answered ``no_fish``, with no probability.
    They count in ``n_known`` and ``n_unknown`` and as rejected (a held-out fish answered
    ``no_fish`` is given no species: the open set's right answer), not in the AUROC, which
    is over the photos scored (``null`` where a side has none).
    """
    known_gated, unknown_gated = gate_rejected
    scored = len(known_confidence) and len(unknown_confidence)
    return {
        "auroc": auroc(known_confidence, unknown_confidence) if scored else None,
        "n_known": len(known_confidence) + known_gated,
        "n_unknown": len(unknown_confidence) + unknown_gated,
        "threshold": threshold,
        "known_accepted": _share(int((known_confidence >= threshold).sum()),
                                 len(known_confidence) + known_gated),
        "unknown_rejected": _share(int((unknown_confidence < threshold).sum()) + unknown_gated,
                                   len(unknown_confidence) + unknown_gated),
        "gate_rejected": {"known": known_gated, "unknown": unknown_gated},
    }  # fmt: skip


def worst_recall(
    summary: dict[str, Any], group_counts: dict[str, int], min_groups: int = MIN_TRACKS_FOR_RECALL
) -> dict[str, Any] | None:
    """The lowest recall among species with at least ``min_groups`` groups in the data."""
    eligible = [
        (row["recall"], sid) for sid, row in summary["per_species"].items()
        if group_counts.get(sid, 0) >= min_groups and row["n"] > 0
    ]  # fmt: skip
    if not eligible:
        return None
    recall, sid = min(eligible)
    return {"species": sid, "recall": recall, "min_groups": min_groups}


def mistakes(
    probabilities: FloatArray, labels: IntArray, species: Sequence[Species], files: Sequence[str]
) -> list[dict[str, Any]]:
    """Every image predicted wrong, the most confident mistake first: those are the likeliest
    wrong labels in the data, and the confusions worth a person's look first."""
    ids = [s.id for s in species]
    predicted = probabilities.argmax(axis=1)
    rows = [
        {
            "file": files[i],
            "species": ids[labels[i]],
            "predicted": ids[predicted[i]],
            "confidence": float(probabilities[i, predicted[i]]),
            "probability_of_species": float(probabilities[i, labels[i]]),
        }
        for i in np.flatnonzero(predicted != labels).tolist()
    ]
    return sorted(rows, key=lambda row: (-row["confidence"], row["file"]))


def _share(count: int, total: int) -> float:
    return count / total if total else float("nan")
