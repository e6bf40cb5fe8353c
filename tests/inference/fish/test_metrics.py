"""The metrics written in numpy, against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from inference.fish.calibrate import choose_thresholds, fit_temperature
from inference.fish.metrics import (
    auroc,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    per_class_scores,
    softmax,
    top_k_accuracy,
)
from inference.fish.summary import mistakes
from inference.fish.types import Species


def test_auroc_counts_ties_as_half() -> None:
    assert auroc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert auroc(np.array([0.1]), np.array([0.9])) == 0.0
    assert auroc(np.array([0.5, 0.5]), np.array([0.5])) == 0.5
    assert auroc(np.array([0.9, 0.4]), np.array([0.5, 0.1])) == 0.75


def test_per_class_scores_and_macro_f1() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0])
    matrix = confusion_matrix(predicted, labels, 3)
    scores = per_class_scores(matrix)
    assert scores[0].precision == 0.5 and scores[0].recall == 0.5
    assert scores[1].precision == pytest.approx(2 / 3) and scores[1].recall == 1.0
    assert scores[2].f1 == 0.0
    assert macro_f1(matrix) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_photos_given_no_class_lower_recall_and_top_k_not_precision() -> None:
    """A photo answered ``no_fish`` before any probability: a miss of its class."""
    labels = np.array([0, 0, 1, 1, 2])
    matrix = confusion_matrix(np.array([0, 1, 1, 1, 0]), labels, 3)
    missed = np.array([2, 0, 0])
    scores = per_class_scores(matrix, missed)
    assert (scores[0].n, scores[0].recall, scores[0].precision) == (4, 0.25, 0.5)
    assert scores[0].f1 == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert scores[1] == per_class_scores(matrix)[1]
    assert macro_f1(matrix, missed) == pytest.approx((scores[0].f1 + 0.8 + 0.0) / 3)
    probabilities = np.array([[0.5, 0.3, 0.2]] * 4, dtype=np.float32)
    assert top_k_accuracy(probabilities, np.array([0, 0, 1, 2]), 1, missed=4) == 0.25
    assert top_k_accuracy(probabilities, np.array([0, 0, 1, 2]), 5, missed=4) == 0.5


def test_top_k_and_ece_of_a_perfectly_calibrated_toy() -> None:
    probabilities = np.array([[0.5, 0.3, 0.2]] * 4, dtype=np.float32)
    labels = np.array([0, 0, 1, 2])
    assert top_k_accuracy(probabilities, labels, 1) == 0.5
    assert top_k_accuracy(probabilities, labels, 2) == 0.75
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0, abs=1e-6)


def test_temperature_scaling_cools_an_overconfident_model_and_lowers_its_ece() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 2000)
    logits = rng.normal(0, 1, (2000, 5)).astype(np.float32)
    logits[np.arange(2000), labels] += 1.5  # right about 60 % of the time...
    logits *= 6  # ...but sure of itself nearly always
    temperature = fit_temperature(logits, labels)
    assert temperature > 3
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits / temperature), labels)
    assert after < before / 3


def test_thresholds_are_ordered_and_follow_their_rules() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 1000)
    logits = rng.normal(0, 1, (1000, 4)).astype(np.float32)
    logits[np.arange(1000), labels] += 2.5
    t = choose_thresholds(logits, labels, known_acceptance=0.9, review_precision=0.95)
    confidence = softmax(logits / t.temperature).max(axis=1)
    correct = softmax(logits).argmax(axis=1) == labels
    assert 0 < t.open_set <= t.review < 1
    assert np.mean(confidence >= t.open_set) == pytest.approx(0.9, abs=0.01)
    assert np.mean(correct[confidence >= t.review]) >= 0.95


def test_the_review_cut_keeps_its_precision_where_confidences_tie() -> None:
    """Probabilities saturate, so ties are common. Here 0.9 (right) then 0.8 twice (right,
    wrong): a cut at 0.8 accepts both 0.8s and is 2/3 accurate, not the 100 % of the first
    two sorted alone, so a precision of 1 needs the cut at 0.9. With no cut accurate enough,
    the threshold is 1 and every answer, even a probability of exactly 1, is flagged."""
    logits = np.log(np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8]], np.float32))
    labels = np.array([0, 0, 0])  # the third is called species 1 at 0.8
    with_ties = choose_thresholds(logits, labels, known_acceptance=1.0, review_precision=1.0)
    confidence = softmax((logits / with_ties.temperature).astype(np.float32)).max(axis=1)
    assert with_ties.review == pytest.approx(confidence[0])
    assert with_ties.flags_for_review(confidence).tolist() == [False, True, True]
    wrong = choose_thresholds(logits[1:], np.array([1, 0]), known_acceptance=1.0)
    assert wrong.review == 1.0
    assert wrong.flags_for_review(np.array([1.0, 0.5])).tolist() == [True, True]


def test_mistakes_are_the_wrong_answers_most_confident_first() -> None:
    species = [Species("a", "A"), Species("b", "B"), Species("c", "C")]
    probabilities = np.array([
        [0.8, 0.1, 0.1],  # a, right
        [0.3, 0.6, 0.1],  # a, called b at 0.6
        [0.1, 0.1, 0.8],  # b, called c at 0.8
        [0.2, 0.7, 0.1],  # b, right
        [0.5, 0.2, 0.3],  # c, called a at 0.5
    ])  # fmt: skip
    labels = np.array([0, 0, 1, 1, 2])
    files = [f"{i}.png" for i in range(5)]
    rows = mistakes(probabilities, labels, species, files)
    assert [(r["file"], r["species"], r["predicted"]) for r in rows] == [
        ("2.png", "b", "c"), ("1.png", "a", "b"), ("4.png", "c", "a"),
    ]  # fmt: skip
    assert [r["confidence"] for r in rows] == [0.8, 0.6, 0.5]
    assert [r["probability_of_species"] for r in rows] == [0.1, 0.3, 0.3]
    assert mistakes(probabilities[:1], labels[:1], species, files[:1]) == []
