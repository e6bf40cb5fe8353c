"""The words of the catch flow, as plain functions of immutable values (no Qt here).

``jaga catch`` prints them and the Catch panel shows them, so the officer reads the same
verdict in both. Confidences are the pack's calibrated probabilities, shown as percentages.
"""

from __future__ import annotations

from collections.abc import Sequence

from inference.fish.types import FishPrediction, FishStatus
from sync.store import Crop, FishObservation, PredictionStatus
from sync.store.outbox_hub import destination_words

SHOWN_CANDIDATES = 3


def percent(probability: float) -> str:
    return f"{probability * 100:.1f} %"


def verdict_text(prediction: FishPrediction) -> str:
    """The answer in a few words: the species, or why there is none."""
    if prediction.species is not None:
        return prediction.species.name
    if prediction.status is FishStatus.UNKNOWN:
        return "unknown species"
    return "no fish"


def confidence_text(prediction: FishPrediction) -> str:
    if not prediction.top_k:
        return "-"
    return f"{percent(prediction.confidence)} (calibrated)"


def status_text(prediction: FishPrediction) -> str:
    """What the status means for the officer, and whether a person must look again."""
    if prediction.status is FishStatus.NO_FISH:
        return f"no fish: {prediction.reason or 'the photo failed the quality gate'}; needs review"
    if prediction.status is FishStatus.UNKNOWN:
        best = prediction.top_k[0]
        return (
            f"unknown: the best candidate, {best.species.name} at {percent(best.probability)},"
            " is below the pack's open-set threshold; needs review"
        )
    if prediction.needs_review:
        return "identified, but below the pack's review threshold; needs review"
    return "identified"


def candidates_text(
    prediction: FishPrediction, shown: int = SHOWN_CANDIDATES, separator: str = ", "
) -> str:
    """The first ``shown`` candidates, best first, with their calibrated probabilities."""
    scores = prediction.top_k[:shown]
    if not scores:
        return "-"
    return separator.join(f"{s.species.name} {percent(s.probability)}" for s in scores)


def fish_line(number: int, crop: Crop | None, prediction: FishPrediction | None) -> str:
    """One fish of the photo in the panel's list: which, and the answer in a few words."""
    which = "whole photo" if crop is None else f"fish {number}, box {crop}"
    if prediction is None:
        return f"{which}: not classified yet"
    answer = verdict_text(prediction)
    if prediction.top_k:
        answer += f" {percent(prediction.confidence)}"
    if prediction.needs_review:
        answer += ", needs review"
    return f"{which}: {answer}"


def recorded_catch_text(observations: Sequence[FishObservation]) -> str:
    """What Record wrote: one observation as before, or how many fish share the photo."""
    if len(observations) == 1:
        return recorded_text(observations[0])
    flagged = sum(o.needs_review for o in observations)
    confirmed = sum(o.confirmed_species is not None for o in observations)
    return (
        f"recorded {len(observations)} fish sharing one photo ({flagged} flagged for review,"
        f" {confirmed} confirmed); queued for the hub"
    )


def _shown(observation: FishObservation) -> str:
    """What the review list shows a catch as: the best candidate, saying so where the pack
    named no species."""
    best = observation.predictions[0] if observation.predictions else None
    guess = f"{best.species} {percent(best.confidence)}" if best else "no fish / no prediction"
    if observation.status is PredictionStatus.UNKNOWN:  # the pack named no species
        return f"unknown species (best candidate {guess})"
    if observation.status is PredictionStatus.NO_FISH:
        return f"no fish ({observation.status_reason or 'failed the quality gate'})"
    return guess


def review_line(observation: FishObservation) -> str:
    """One flagged observation on one line: when, the best candidate (saying so where the
    pack named no species), where, who, and whether it was pulled from the hub."""
    guess = _shown(observation)
    context = [("vessel", observation.vessel), ("trip", observation.trip)]
    where = "".join(f"{label} {_one_line(value)}, " for label, value in context if value)
    when = observation.observed_at.astimezone().strftime("%Y-%m-%d %H:%M")
    line = f"{when}   {guess}   ({where}officer {_one_line(observation.officer)})"
    return line if observation.recorded_here else f"{line}   (pulled from the hub)"


def recorded_text(observation: FishObservation) -> str:
    if observation.confirmed_species is not None:
        return f"recorded and {confirmed_text(observation)}"
    flag = "flagged for review" if observation.needs_review else "not flagged for review"
    return f"recorded {observation.observation_uid} ({flag}); queued for the hub"


def confirmed_text(
    observation: FishObservation, held_for: str | None = None, quarantined: str | None = None
) -> str:
    """As ``jaga store confirm`` says it; ``held_for``: the hub the review is held for;
    ``quarantined``: why it waits in quarantine instead (``destination_words``)."""
    return (
        f"confirmed {observation.observation_uid} as {observation.confirmed_species}"
        f" (reviewed by {observation.reviewed_by}); {destination_words(held_for, quarantined)}"
    )


def not_a_fish_text(
    observation: FishObservation, held_for: str | None = None, quarantined: str | None = None
) -> str:
    """As ``jaga store confirm --not-a-fish`` says it."""
    return (
        f"answered {observation.observation_uid}: not a fish (reviewed by"
        f" {observation.reviewed_by}); it will not be used for training;"
        f" {destination_words(held_for, quarantined)}"
    )


def not_a_fish_question(observation: FishObservation) -> str:
    """Asked before a catch is answered "Not a fish": which catch, and what the review list
    shows it as (an unknown species is not named as its best candidate)."""
    return (
        f"Answer catch {observation.observation_uid} (shown as {_shown(observation)}, officer"
        f" {_one_line(observation.officer)}) as not a fish? It leaves the review list and"
        " will never be used for training."
    )


def _one_line(text: str | None) -> str:
    return " ".join(text.split()) if text and text.strip() else "-"
