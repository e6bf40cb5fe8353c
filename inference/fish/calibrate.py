"""Temperature scaling and the decision thresholds, all chosen on validation.

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
- **Familiarity threshold** (packs whose head carries species prototypes): the best cosine
  similarity of a photo's features to the species' mean training features below which the
  answer is ``no_fish``: the photo is like none of the species (a face, a deck, a room), which
  the top-1 probability cannot tell, since a linear head can be sure of a species on a photo
  of anything. It is the ``1 - fish_acceptance`` quantile of the validation images'
  similarities, so about ``fish_acceptance`` of known-species photos pass it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inference.fish.config import DEFAULT_KNOWN_ACCEPTANCE, DEFAULT_REVIEW_PRECISION
from inference.fish.images import FloatArray
from inference.fish.metrics import IntArray, softmax

DEFAULT_FISH_ACCEPTANCE = 0.99
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
    # None: the pack gives no familiarity (packs made before it, combinations of those alone)
    familiarity: float | None = None
    fish_acceptance: float | None = None

    def __post_init__(self) -> None:
        if not (self.temperature > 0 and 0 <= self.open_set <= self.review <= 1):
            raise ValueError(f"inconsistent thresholds: {self}")
        if (self.familiarity is None) != (self.fish_acceptance is None):
            raise ValueError("familiarity and fish_acceptance go together: both or neither")
        if self.familiarity is not None and not -1.0 <= self.familiarity <= 1.0:
            raise ValueError(f"familiarity {self.familiarity} is not a cosine similarity")

    def is_unfamiliar(self, familiarity: float | None) -> bool:
        """Whether a photo of this familiarity is like none of the pack's species; never
        where the pack or the photo has none."""
        if self.familiarity is None or familiarity is None:
            return False
        return familiarity < self.familiarity

    def flags_for_review(self, confidence: FloatArray | float) -> Any:
        """Whether a top-1 probability (or each of an array) goes to a human."""
        return (np.asarray(confidence) < self.review) | (self.review >= 1.0)

    def to_json(self) -> dict[str, Any]:
        """Without familiarity where there is none: such a file reads as it always did."""
        body = {k: v for k, v in asdict(self).items() if v is not None}
        return {**body, "rules": __doc__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Thresholds:
        fields = ("temperature", "open_set", "review", "known_acceptance", "review_precision")
        optional = {name: float(data[name]) for name in _OPTIONAL if data.get(name) is not None}
        return cls(**{name: float(data[name]) for name in fields}, **optional)


_OPTIONAL = ("familiarity", "fish_acceptance")


def familiarity_threshold(
    validation: FloatArray, fish_acceptance: float = DEFAULT_FISH_ACCEPTANCE
) -> float:
    """The familiarity below which a photo is like none of the species (see the rules)."""
    return float(np.quantile(validation, 1.0 - fish_acceptance, method="lower"))


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
