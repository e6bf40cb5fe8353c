"""What the catch panel asks and says, in the words of the list it asks about."""

from __future__ import annotations

from datetime import UTC, datetime

from desktop.catch_text import not_a_fish_question, review_line
from sync.store import FishObservation, PredictionStatus, SpeciesScore


def test_the_not_a_fish_question_names_an_unknown_catch_as_the_list_shows_it() -> None:
    """ "shown as Lutjanus campechanus" for a catch the list shows as an unknown species
    would have the officer answer about a label the list never gave it."""
    unknown = FishObservation(
        observed_at=datetime(2026, 11, 20, 6, 15, tzinfo=UTC),
        predictions=(SpeciesScore("Lutjanus campechanus", 0.55),),
        needs_review=True,
        officer="officer-7",
        status=PredictionStatus.UNKNOWN,
    )
    shown = "unknown species (best candidate Lutjanus campechanus 55.0 %)"
    assert shown in review_line(unknown)
    assert f"shown as {shown}" in not_a_fish_question(unknown)
