"""What ``jaga catch`` prints of a catch it recorded: the text report, or JSON for scripts
(``--json``). Imports no Qt, and nothing that loads the classifier or the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop.catch_time import ObservedTime
    from inference.fish.pack import SpeciesPack
    from inference.fish.types import FishPrediction
    from sync.store import Crop, FishObservation


@dataclass(frozen=True)
class RecordedFish:
    observation: FishObservation
    prediction: FishPrediction


@dataclass(frozen=True)
class Recorded:
    fish: tuple[RecordedFish, ...]
    pack: SpeciesPack
    media_type: str
    photo_bytes: int
    boxed: bool  # the officer gave boxes (the JSON is then a list of fish)
    observed: ObservedTime | None = None  # when the catch was made, and what says so


def as_json(recorded: Recorded) -> dict[str, Any] | list[dict[str, Any]]:
    """The record for scripts, ``pack_version`` included (it is stored with the observation):
    one object for a whole-photo catch, a list of fish when boxes were given."""
    fish = [fish_json(recorded, one) for one in recorded.fish]
    return fish if recorded.boxed else fish[0]


def fish_json(recorded: Recorded, fish: RecordedFish) -> dict[str, Any]:
    observation, prediction = fish.observation, fish.prediction
    crop = observation.crop
    return {
        "observation_uid": observation.observation_uid,
        "photo_uid": observation.photo_uid,
        "crop": None if crop is None else _crop_json(crop),
        "media_type": recorded.media_type,
        "photo_bytes": recorded.photo_bytes,
        "status": prediction.status.value,
        "species": None if prediction.species is None else prediction.species.name,
        "confidence": prediction.confidence,
        "top_k": [
            {"species": s.species.name, "id": s.species.id, "probability": s.probability}
            for s in prediction.top_k
        ],
        "reason": prediction.reason,
        "needs_review": observation.needs_review,
        "flagged_by_classifier": prediction.needs_review,
        "confirmed_species": observation.confirmed_species,
        "reviewed_by": observation.reviewed_by,
        "pack_name": recorded.pack.name,
        "pack_version": prediction.pack_version,
        "observed_at": observation.observed_at.isoformat(),
        "observed_at_source": None if recorded.observed is None else recorded.observed.source,
    }


def _crop_json(crop: Crop) -> dict[str, int]:
    return {"x": crop.x, "y": crop.y, "width": crop.width, "height": crop.height}


def text_report(recorded: Recorded) -> str:
    lines: list[str] = []
    for number, fish in enumerate(recorded.fish, start=1):
        if recorded.boxed:
            lines.append(f"fish {number}: box {fish.observation.crop}")
        lines.extend(f"{caption:<12} {value}" for caption, value in _fish_rows(recorded, fish))
    photo_uid = recorded.fish[0].observation.photo_uid
    photo = f"{photo_uid} ({recorded.media_type}, {recorded.photo_bytes} bytes)"
    lines.append(f"{'photo':<12} {photo}")
    if recorded.observed is not None:
        lines.append(f"{'observed':<12} {observed_text(recorded.observed)}")
    return "\n".join([*lines, "queued for the hub; review flagged ones with: jaga store review"])


def observed_text(observed: ObservedTime) -> str:
    """When the catch was made, in UTC and this device's zone, and what says so."""
    local = observed.at.astimezone().strftime("%Y-%m-%d %H:%M %z")
    where = {"given": "as given", "photo": "the photo's own time", "recorded": "recorded now"}
    utc = observed.at.astimezone(UTC)  # as given, it keeps the officer's offset
    said = f"{utc:%Y-%m-%dT%H:%M:%SZ} ({local} here; {where[observed.source]})"
    return f"{said}; {observed.note}" if observed.note else said


def _fish_rows(recorded: Recorded, fish: RecordedFish) -> tuple[tuple[str, str], ...]:
    from desktop import catch_text

    observation, prediction = fish.observation, fish.prediction
    if observation.confirmed_species is not None:
        review = f"confirmed as {observation.confirmed_species} by {observation.reviewed_by}"
    else:
        review = "flagged for review" if observation.needs_review else "not needed"
    return (
        ("species", catch_text.verdict_text(prediction)),
        ("confidence", catch_text.confidence_text(prediction)),
        ("status", catch_text.status_text(prediction)),
        ("top 3", catch_text.candidates_text(prediction)),
        ("review", review),
        ("pack", f"{recorded.pack.name} {prediction.pack_version}"),
        ("observation", observation.observation_uid),
    )
