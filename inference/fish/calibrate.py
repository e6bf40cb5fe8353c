"""Temperature scaling and the two decision thresholds, all chosen on validation.

- **Temperature** ``T`` minimises the validation negative log-likelihood of
  ``softmax(logits / T)``; it changes confidences, never the ranking of species.
- **Open-set threshold**: the calibrated top-1 probability below which the answer is
  ``unknown``. It is the ``1 - known_acceptance`` quantile of the validation images' top-1
  probabilities: by construction about ``known_acceptance`` of known-species photos are
  still answered, and photos of species the pack never saw, which score lower, mostly are not.
- **Review threshold**: the lowest top-1 probability at and above which the validation
  predictions reach ``review_precision`` accuracy; a prediction below it is flagged for a
  human. It is never below the open-set threshold. Where no cut reaches that accuracy it is 1,
  and a review threshold of 1 flags every prediction (a probability can round to exactly 1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inference.fish.images import FloatArray
from inference.fish.metrics import IntArray, softmax

DEFAULT_KNOWN_ACCEPTANCE = 0.95
DEFAULT_REVIEW_PRECISION = 0.99
# The search range for 1 / T. A validation set with a handful of images, one of them
# confidently wrong, drives the NLL optimum towards T -> infinity (all species equally
# likely); the bound keeps such a degenerate fit from erasing the ranking's confidence.
_MIN_INV_T, _MAX_INV_T = 0.05, 20.0


@dataclass(frozen=True)
class Thresholds:
    temperature: float
    open_set: float
    review: float
    known_acceptance: float
    review_precision: float

    def __post_init__(self) -> None:
        if not (self.temperature > 0 and 0 <= self.open_set <= self.review <= 1):
            raise ValueError(f"inconsistent thresholds: {self}")

    def flags_for_review(self, confidence: FloatArray | float) -> Any:
        """Whether a top-1 probability (or each of an array) goes to a human."""
        return (np.asarray(confidence) < self.review) | (self.review >= 1.0)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rules": __doc__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Thresholds:
        fields = ("temperature", "open_set", "review", "known_acceptance", "review_precision")
        return cls(**{name: float(data[name]) for name in fields})


def nll(logits: FloatArray, labels: IntArray, temperature: float) -> float:
    scaled = logits.astype(np.float64) / temperature
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_z - shifted[np.arange(len(labels)), labels]))


def fit_temperature(logits: FloatArray, labels: IntArray) -> float:
    """Golden-section search on ``1 / T``, in which the NLL is convex."""
    lo, hi = math.log(_MIN_INV_T), math.log(_MAX_INV_T)
    ratio = (math.sqrt(5) - 1) / 2

    def loss(log_inv_t: float) -> float:
        return nll(logits, labels, math.exp(-log_inv_t))

    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    for _ in range(80):
        if loss(a) < loss(b):
            hi, b = b, a
            a = hi - ratio * (hi - lo)
        else:
            lo, a = a, b
            b = lo + ratio * (hi - lo)
    return math.exp(-(lo + hi) / 2)


def choose_thresholds(
    logits: FloatArray,
    labels: IntArray,
    *,
    known_acceptance: float = DEFAULT_KNOWN_ACCEPTANCE,
    review_precision: float = DEFAULT_REVIEW_PRECISION,
) -> Thresholds:
    temperature = fit_temperature(logits, labels)
    probabilities = softmax(logits / temperature)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    open_set = float(np.quantile(confidence, 1.0 - known_acceptance, method="lower"))
    review = max(open_set, _review_threshold(confidence, correct, review_precision))
    return Thresholds(temperature, open_set, review, known_acceptance, review_precision)


def _review_threshold(
    confidence: FloatArray, correct: np.ndarray[Any, np.dtype[np.bool_]], precision: float
) -> float:
    """The lowest cut whose accepted predictions (confidence >= cut) meet ``precision``.

    A cut accepts every prediction of its value, so only the last of a run of equal
    confidences can end the accepted set: a cut inside it would count some of them out and
    claim a precision the cut does not have.
    """
    order = np.argsort(-confidence, kind="stable")
    ranked = confidence[order]
    hits = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    run_ends = np.append(ranked[1:] != ranked[:-1], True)
    meeting = np.flatnonzero((hits >= precision) & run_ends)
    if len(meeting) == 0:
        return 1.0  # nothing is that accurate: every prediction goes to review
    return float(ranked[meeting[-1]])
