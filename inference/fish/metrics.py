"""Classification, calibration and open-set metrics in numpy (no scikit-learn at run time)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.fish.images import FloatArray

IntArray = npt.NDArray[np.int64]
ECE_BINS = 15


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    n: int


def softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probabilities: FloatArray = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return probabilities


def top_k_accuracy(probabilities: FloatArray, labels: IntArray, k: int, missed: int = 0) -> float:
    """``missed``: photos answered before any probability (``no_fish``), wrong at every k."""
    total = len(labels) + missed
    if total == 0:
        return float("nan")
    k = min(k, probabilities.shape[1])
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).sum() / total)


def confusion_matrix(predicted: IntArray, labels: IntArray, n_classes: int) -> IntArray:
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix  # rows: true class, columns: predicted class


def per_class_scores(matrix: IntArray, missed: IntArray | None = None) -> list[ClassScores]:
    """``missed[c]``: photos of class ``c`` given no class at all (``no_fish``): outside the
    matrix, they lower its recall and leave its precision as it is."""
    scores = []
    for c in range(matrix.shape[0]):
        tp = float(matrix[c, c])
        predicted, actual = float(matrix[:, c].sum()), float(matrix[c].sum())
        if missed is not None:
            actual += float(missed[c])
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(ClassScores(precision, recall, f1, int(actual)))
    return scores


def macro_f1(matrix: IntArray, missed: IntArray | None = None) -> float:
    """Mean F1 over the classes that occur in the labels (absent ones have no recall);
    ``missed`` as in :func:`per_class_scores`."""
    present = [s.f1 for s in per_class_scores(matrix, missed) if s.n > 0]
    return float(np.mean(present)) if present else float("nan")


@dataclass(frozen=True)
class Reliability:
    """Equal-width confidence bins: count, mean confidence and accuracy in each."""

    edges: FloatArray
    counts: IntArray
    confidence: FloatArray
    accuracy: FloatArray

    @property
    def ece(self) -> float:
        total = self.counts.sum()
        if total == 0:
            return float("nan")
        gaps = np.abs(self.accuracy - self.confidence) * self.counts
        return float(gaps.sum() / total)


def reliability(probabilities: FloatArray, labels: IntArray, bins: int = ECE_BINS) -> Reliability:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1, dtype=np.float32)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins).astype(np.int64)
    mean_conf = np.zeros(bins, dtype=np.float32)
    accuracy = np.zeros(bins, dtype=np.float32)
    for b in np.flatnonzero(counts):
        mean_conf[b] = confidence[which == b].mean()
        accuracy[b] = correct[which == b].mean()
    return Reliability(edges, counts, mean_conf, accuracy)


def expected_calibration_error(
    probabilities: FloatArray, labels: IntArray, bins: int = ECE_BINS
) -> float:
    return reliability(probabilities, labels, bins).ece


def auroc(positive_scores: FloatArray, negative_scores: FloatArray) -> float:
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney U)."""
    n_pos, n_neg = len(positive_scores), len(negative_scores)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    scores = np.concatenate([positive_scores, negative_scores])
    ranks = _average_ranks(scores)
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def _average_ranks(values: FloatArray) -> npt.NDArray[np.float64]:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks
