"""The handheld catch flow, without Qt: a photo on deck -> a species -> a recorded observation.

``jaga catch`` and the app's Catch panel both go through here, so an observation recorded
from a shell and one recorded from the window are the same record:

1. :func:`desktop.catch_photo.read_catch_photo` keeps the file's bytes as taken (they are
   what the hub and the training export receive), names its type from its content, decodes
   it, and refuses a file over the store's photo limit before anything is classified.
2. :func:`classify_catch` asks the species pack about each fish: one box (``Crop``) per fish
   the officer marked in the photo, all in one batch, or the whole photo as one fish.
3. :func:`record_catches` writes the photo once, one observation per fish (its box, the
   version of the pack that made its predictions, and the pack's verdict: ``identified``,
   ``unknown`` or ``no_fish``, with the quality gate's reason), and their outbox entries in one
   transaction (``Observations.add_with_photo``), after checking every record against the
   wire schema the hub applies, so nothing is written that the hub would quarantine.

One fish is recorded once: a box given twice is refused, and so is a photo whose bytes
were recorded before with one of the same fish (the same box, or the whole photo), unless
the officer says to record it again (``RecordedBeforeError``). The same photo with other
boxes is other fish of it, and is recorded. The store checks for an earlier record within
the transaction that writes the new one, so two runs of one photo at once (a shell and the
window, two shells) record it once, and the second is refused.

Beside it: the catch's refusals (:mod:`desktop.catch_errors`), its photo
(:mod:`desktop.catch_photo`), when it was caught (:mod:`desktop.catch_time`), and the pack it
is classified with (:mod:`desktop.catch_packs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from pydantic import ValidationError

from desktop.catch_errors import CatchError, RecordedBeforeError
from desktop.catch_photo import CatchPhoto, PhotoFile
from desktop.catch_time import observed_time
from inference.fish.images import UInt8Image
from inference.fish.types import FishPrediction, FishStatus
from sync.errors import CatchRecordedError, PhotoRecordedError
from sync.protocol import NAME_MAX_LENGTH, FishObservationUpsert, PhotoUpsert, summarize
from sync.protocol.names import free_text_problem, hidden_characters_problem
from sync.store import (
    Clock,
    Crop,
    FishObservation,
    Photo,
    Position,
    PredictionStatus,
    SpeciesScore,
)
from sync.store.clock import format_timestamp
from sync.store.clock_floor import ClockFloor
from sync.store.observations import Observations, observation_payload
from sync.store.photos import photo_payload

if TYPE_CHECKING:  # ONNX Runtime loads with the classifier, not with this module
    from inference.fish.classify import SpeciesClassifier

# Any aware time will do: it only lets the store's own checks run on the details alone.
_PROBE_TIME = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CaughtFish:
    """One fish of a catch photo: its box (None: the whole photo is the fish) and the pack's
    answer for it."""

    crop: Crop | None
    prediction: FishPrediction


@dataclass(frozen=True)
class CatchDetails:
    """What the officer says about the catch. Text is stripped, blank optional text is None;
    the store's own checks (officer, count, length) and the hub's limits apply on creation."""

    officer: str
    vessel: str | None = None
    trip: str | None = None
    haul: str | None = None
    count: int = 1
    length_cm: float | None = None
    position: Position | None = None
    notes: str = ""
    observed_at: datetime | None = None
    """When the officer says the fish was caught (None: the photo's own time, if it names
    one, else the time of recording; see :func:`observed_time`)."""

    def __post_init__(self) -> None:
        if self.observed_at is not None and self.observed_at.utcoffset() is None:
            raise CatchError("the time of the catch needs its offset from UTC (+08:00, Z)")
        object.__setattr__(self, "officer", self.officer.strip())
        for name in ("vessel", "trip", "haul"):
            object.__setattr__(self, name, optional_text(getattr(self, name)))
        object.__setattr__(self, "notes", self.notes.strip())
        for name in ("officer", "vessel", "trip", "haul"):  # said as typed, not as the wire's
            if problem := hidden_characters_problem(getattr(self, name) or "", f"the {name}"):
                raise CatchError(problem)
        if problem := free_text_problem(self.notes, "a note"):  # its lines and tabs are kept
            raise CatchError(problem)
        check_recordable(lambda: self.observation(_PROBE_TIME, (), needs_review=True))

    def observation(
        self,
        observed_at: datetime,
        predictions: tuple[SpeciesScore, ...],
        *,
        needs_review: bool,
        confirmed_species: str | None = None,
        reviewed_at: datetime | None = None,
    ) -> FishObservation:
        """The record of this catch; a confirmed species is the officer's own review, made
        at ``reviewed_at`` (default: ``observed_at``)."""
        return FishObservation(
            observed_at=observed_at,
            predictions=predictions,
            needs_review=needs_review,
            officer=self.officer,
            count=self.count,
            confirmed_species=confirmed_species,
            position=self.position,
            vessel=self.vessel,
            trip=self.trip,
            haul=self.haul,
            length_cm=self.length_cm,
            notes=self.notes,
            reviewed_by=self.officer if confirmed_species is not None else None,
            reviewed_at=(reviewed_at or observed_at) if confirmed_species is not None else None,
        )


def parse_length(text: str) -> float | None:
    """A length typed in centimetres; blank is none (whether it is positive is checked with
    the other details)."""
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise CatchError(f"length: not a number of centimetres: {text.strip()!r}") from None


def parse_position(latitude: str, longitude: str) -> Position | None:
    """A position typed in decimal degrees; both blank is none, one alone is refused."""
    if not latitude.strip() and not longitude.strip():
        return None
    if not latitude.strip() or not longitude.strip():
        raise CatchError("position: give the latitude and the longitude, or neither")
    try:
        return Position(float(latitude), float(longitude))
    except ValueError as error:  # not numbers, NaN, or out of range
        raise CatchError(f"position: {error}") from None


def optional_text(text: str | None) -> str | None:
    """Stripped text, or None for none or blank."""
    stripped = "" if text is None else text.strip()
    return stripped or None


def check_recordable(make: Callable[[], FishObservation], photo: Photo | None = None) -> None:
    """Build the record and check it as the hub will: :class:`CatchError` with the first
    problems, in the words of the store's records or of the wire schema."""
    try:
        observation = make()
        FishObservationUpsert.model_validate(observation_payload(observation))
        if photo is not None:
            PhotoUpsert.model_validate(photo_payload(photo, None))
    except ValidationError as error:
        raise CatchError(f"cannot record this catch: {summarize(error)}") from None
    except ValueError as error:
        raise CatchError(f"cannot record this catch: {error}") from None


def parse_box(text: str) -> Crop:
    """A fish's box typed as ``X,Y,W,H`` (pixels of the photo, from its top-left corner)."""
    parts = [part.strip() for part in text.split(",")]
    try:
        x, y, width, height = (int(part) for part in parts)
    except ValueError:
        raise CatchError(f"box {text.strip()!r}: expected X,Y,WIDTH,HEIGHT in pixels") from None
    return box(x, y, width, height)


def box(x: int, y: int, width: int, height: int) -> Crop:
    """A fish's box; :class:`CatchError` for a negative corner or an empty side."""
    try:
        return Crop(x, y, width, height)
    except ValueError as error:
        raise CatchError(f"box {x},{y},{width},{height}: {error}") from None


def check_crops(photo: PhotoFile, crops: Sequence[Crop | None]) -> None:
    """Every box lies inside the photo, and none is given twice (one fish, two records);
    :class:`CatchError` naming the first that does not."""
    width, height = photo.size
    seen: dict[Crop, int] = {}
    for number, crop in enumerate(crops, start=1):
        if crop is None:
            continue
        if not crop.fits(width, height):
            raise CatchError(
                f"fish {number}: box {crop} lies outside {photo.path.name} ({width}x{height})"
            )
        if crop in seen:
            raise CatchError(f"fish {number}: box {crop} is fish {seen[crop]}'s box again")
        seen[crop] = number


def crop_image(image: UInt8Image, crop: Crop | None) -> UInt8Image:
    """The fish's pixels: its box of the photo, or the whole photo."""
    if crop is None:
        return image
    return np.ascontiguousarray(image[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width])


def classify_catch(
    classifier: SpeciesClassifier, photo: CatchPhoto, crops: Sequence[Crop] | None = None
) -> list[CaughtFish]:
    """The species pack's answer for each fish, in the order of ``crops``, from one batch (one
    ``classify`` call); no boxes is the whole photo as one fish. A box outside the photo is
    refused before anything is classified."""
    boxes: list[Crop | None] = list(crops) if crops else [None]
    check_crops(photo, boxes)
    predictions = classifier.classify([crop_image(photo.image, crop) for crop in boxes])
    return [CaughtFish(crop, p) for crop, p in zip(boxes, predictions, strict=True)]


def record_catches(
    observations: Observations,
    photo: PhotoFile,
    fish: Sequence[CaughtFish],
    details: CatchDetails,
    *,
    confirmed_species: Sequence[str | None] = (),
    clock: Clock,
    again: bool = False,
    recorded_at: datetime | None = None,
    photo_uid: str | None = None,
    floor: ClockFloor | None = None,
    observation_uids: Sequence[str] = (),
    made_at: datetime | None = None,
    to_stored_photo: bool = False,
) -> list[FishObservation]:
    """Record the catch: the photo's bytes as read, once, and one observation per fish with
    its box, the prediction's species display names with their calibrated probabilities
    (best first), the version of the pack that made them, its verdict (``status``: an
    ``unknown`` or ``no_fish`` names no species, and is kept so), and its review flag, which an
    officer who confirms that fish's species on the spot clears (``confirmed_species``: one
    per fish, in order, None for a fish not confirmed; empty: none confirmed). A ``no_fish``
    prediction is recorded too, flagged: the officer decides. One transaction, outbox
    entries included: every fish is written, or none. A photo recorded before with one of
    the same fish is :class:`RecordedBeforeError` unless ``again``, checked within that
    transaction (``Observations.add_with_photo``). ``recorded_at`` is when
    the officer asked for the record (default: now): a catch the store refused and the
    panel retries later is the same catch, dated as it was then. ``photo_uid`` names the
    stored photo (default: a new uid): a catch retried under the uid it was first tried with
    is recorded once, its earlier write found by that uid (``CatchRecordedError``, raised
    as it is, again or not). ``floor``: what vouches for the true time besides the clock
    (default: the store's, read now), which dates a catch recorded under a clock found
    wrong (``desktop.catch_time``). ``observation_uids``: one per fish (default: new uids),
    kept across retries as the photo's is, so that a retry into a store restored to before
    the catch records the same catch (found there if a pull brought it back). ``made_at``:
    when the catch was made, for one a hub may hold already: its outbox entries are dated
    so (``Observations.add_with_photo``). ``to_stored_photo``: the photo ``photo_uid`` is in
    the store with the catch's other fish (pulled back in part: ``sync.store.catch_written``),
    and these fish are added to it (``Observations.add_to_photo``)."""
    if not fish:
        raise CatchError("no fish to record")
    confirmed = list(confirmed_species) or [None] * len(fish)
    if len(confirmed) != len(fish):
        raise CatchError(
            f"{len(fish)} fish but {len(confirmed)} confirmed species: give one per fish"
        )
    check_crops(photo, [one.crop for one in fish])
    now = clock.now() if recorded_at is None else recorded_at
    if floor is None:
        floor = observations.clock_floor()
    when = observed_time(details.observed_at, photo.time, now, floor=floor)
    stored_photo = Photo(photo.data, photo.media_type, taken_at=when.at)  # the file's times lie
    if photo_uid is not None:
        stored_photo = replace(stored_photo, photo_uid=photo_uid)
    uids: list[str | None] = list(observation_uids) or [None] * len(fish)
    if len(uids) != len(fish):
        raise CatchError(f"{len(fish)} fish but {len(uids)} observation uids")
    makers = [
        _observation_of(one, details, when.at, now, typed, uid=uid)
        for one, typed, uid in zip(fish, confirmed, uids, strict=True)
    ]
    for number, make in enumerate(makers, start=1):
        _check_fish(number, len(makers), make, stored_photo)
    made = None if made_at is None else format_timestamp(made_at)
    if to_stored_photo:
        return observations.add_to_photo(
            stored_photo.photo_uid, [make() for make in makers], made_at=made
        )
    try:
        return observations.add_with_photo(
            stored_photo, [make() for make in makers], refuse_recorded=not again, made_at=made
        )
    except CatchRecordedError:
        raise
    except PhotoRecordedError as error:
        raise RecordedBeforeError(photo.path, error.earlier) from None


def _observation_of(
    fish: CaughtFish,
    details: CatchDetails,
    observed_at: datetime,
    now: datetime,
    typed: str | None,
    *,
    uid: str | None = None,
) -> Callable[[], FishObservation]:
    """Makes the fish's record (a function, so that ``check_recordable`` sees its errors);
    a species confirmed on the spot is reviewed ``now``, however long ago it was caught."""
    confirmed = optional_text(typed)
    prediction = fish.prediction

    def observation() -> FishObservation:
        recorded = details.observation(
            observed_at,
            predicted_scores(prediction),
            needs_review=prediction.needs_review and confirmed is None,
            confirmed_species=confirmed,
            reviewed_at=now,
        )
        return replace(
            recorded,
            observation_uid=uid or recorded.observation_uid,
            pack_version=prediction.pack_version,
            crop=fish.crop,
            status=PredictionStatus(prediction.status.value),
            status_reason=_reason(prediction),
        )

    return observation


def _reason(prediction: FishPrediction) -> str | None:
    """Why the pack found no fish (its quality gate, or familiarity), within the wire's
    bound for a name."""
    if prediction.status is not FishStatus.NO_FISH or not prediction.reason.strip():
        return None
    return " ".join(prediction.reason.split())[:NAME_MAX_LENGTH]


def _check_fish(number: int, count: int, make: Callable[[], FishObservation], photo: Photo) -> None:
    try:
        check_recordable(make, photo)
    except CatchError as error:
        if count == 1:
            raise
        raise CatchError(f"fish {number}: {error}") from None


def predicted_scores(prediction: FishPrediction) -> tuple[SpeciesScore, ...]:
    return tuple(SpeciesScore(s.species.name, s.probability) for s in prediction.top_k)
