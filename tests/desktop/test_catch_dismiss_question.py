"""The words of the question Dismiss asks (``catch_records.dismiss_question``), and that a
Dismiss drops only the catches it named. No Qt, no store: the values the panel holds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_photo import PhotoFile
from desktop.catch_records import CatchRecord, CatchRecords, dismiss_question
from inference.fish.types import FishPrediction, FishStatus, Species, SpeciesScore
from sync.store import Crop
from tests.desktop.catch_worker import NO_FISH
from tests.inference.fish.test_images import grey_png

COD = FishPrediction(
    FishStatus.IDENTIFIED, (SpeciesScore(Species("gadus_morhua", "Gadus morhua"), 0.9),), False, "1"
)


def catch(name: str, *fish: FishPrediction, confirmed: tuple[str | None, ...] = ()) -> CatchRecord:
    photo = PhotoFile(Path(name), grey_png(64, 48), "image/png", (64, 48))
    crops = [None] if len(fish) == 1 else [Crop(8 * n, 0, 8, 8) for n in range(len(fish))]
    caught = tuple(CaughtFish(crop, one) for crop, one in zip(crops, fish, strict=True))
    return CatchRecord(photo, caught, CatchDetails(officer="Ana"), confirmed or (None,) * len(fish))


def test_the_question_counts_catches_and_fish_and_names_each_species() -> None:
    several = catch("deck.png", COD, NO_FISH, confirmed=(None, "Merluccius merluccius"))
    question = dismiss_question([catch("one.png", COD), several])
    assert question.startswith("Dismiss 2 catches (3 fish) not recorded? "), question
    assert "one.png: Gadus morhua; " in question, question
    assert "deck.png: 2 fish: Gadus morhua, Merluccius merluccius" in question, question
    assert "for good" in question and "No: keep them for Retry" in question


def test_of_a_catch_held_in_part_the_question_names_only_the_fish_lost() -> None:
    part = replace(catch("deck.png", COD, NO_FISH, NO_FISH), held_fish=(0,))
    question = dismiss_question([part])
    assert question.startswith("Dismiss 1 catch (2 fish) not recorded? "), question
    assert "deck.png: 2 of 3 fish not recorded: no fish, no fish" in question, question
    assert "Gadus morhua" not in question, question


def test_a_dismiss_drops_only_the_catches_it_named() -> None:
    records = CatchRecords()
    asked, later = catch("a.png", COD), catch("b.png", COD)
    for one in (asked, later):
        records.start(one)
    records.failed(asked, "database is locked")
    named = records.refused
    records.failed(later, "database is locked")  # refused while the question was open
    assert records.dismiss(named) == [asked]
    assert records.refused == [later]
