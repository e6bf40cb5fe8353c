"""The handheld catch flow, without Qt: a photo on deck -> a species -> a recorded observation.

``jaga catch`` and the app's Catch panel both go through here, so an observation recorded
from a shell and one recorded from the window are the same record:

1. :func:`read_catch_photo` keeps the file's bytes as taken (they are what the hub and the
   training export receive), names its type from its content, decodes it, and refuses a
   file over the store's photo limit before anything is classified.
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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import ValidationError

from desktop.photo_time import PhotoTime, photo_time
from inference.errors import ImageError, ImageTooLargeError
from inference.fish.images import UInt8Image, decode_image
from inference.fish.types import FishPrediction, FishStatus
from inference.image_file import read_image_file
from sync.client.packs import installed_species_packs, packs_dir_for, record_pack_in_use
from sync.errors import CatchRecordedError, PhotoRecordedError, RecordTooLargeError
from sync.protocol import NAME_MAX_LENGTH, FishObservationUpsert, PhotoUpsert, summarize
from sync.store import (
    Clock,
    Crop,
    FishObservation,
    Photo,
    Position,
    PredictionStatus,
    SpeciesScore,
    Store,
    StoreConfig,
)
from sync.store.clock import format_timestamp
from sync.store.edit_clock import BEHIND_TOLERANCE
from sync.store.observations import Observations, observation_payload
from sync.store.photos import check_blob_size, photo_payload

_log = logging.getLogger(__name__)

if TYPE_CHECKING:  # ONNX Runtime loads with the classifier, not with this module
    from inference.fish.classify import SpeciesClassifier
    from inference.fish.pack import SpeciesPack

# The photo formats OpenCV decodes that every viewer (the hub's review page too) shows.
_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
FORMATS = "JPEG, PNG or WebP"
# Any aware time will do: it only lets the store's own checks run on the details alone.
_PROBE_TIME = datetime(2000, 1, 1, tzinfo=UTC)


class CatchError(Exception):
    """A photo or a catch detail that cannot be recorded; the message names the file or the
    field and what is wrong. Nothing was written."""


class RecordedBeforeError(CatchError):
    """The photo was recorded before with one of the same fish: ``earlier`` holds those
    records. Nothing was written; the caller may record it again, if the officer says so."""

    def __init__(self, path: Path, earlier: Sequence[FishObservation]) -> None:
        self.earlier = tuple(earlier)
        records = "; ".join(_earlier_text(observation) for observation in self.earlier)
        super().__init__(f"{path.name} was recorded before with the same fish: {records}")


def _earlier_text(observation: FishObservation) -> str:
    where = "whole photo" if observation.crop is None else f"box {observation.crop}"
    at = observation.observed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"observation {observation.observation_uid} ({where}) at {at}"


@dataclass(frozen=True, eq=False)
class PhotoFile:
    """A photo as it is recorded: its bytes untouched, their type, its size and its time; no
    pixels. What a catch the store refused keeps until it is written (a decoded 24 MP photo
    is some 70 MB, its file a few)."""

    path: Path
    data: bytes = field(repr=False)
    media_type: str
    size: tuple[int, int]
    """Width and height in pixels (what a fish's box is measured in)."""
    time: PhotoTime | None = None
    """The capture time the photo's own EXIF record gives (:mod:`desktop.photo_time`)."""


@dataclass(frozen=True, eq=False)
class CatchPhoto(PhotoFile):
    """A photo as read from disk: its file, and the decoded image to classify."""

    image: UInt8Image = field(repr=False, kw_only=True)  # RGB, for the classifier and preview

    def file(self) -> PhotoFile:
        """The photo without its pixels (the same bytes, not a copy)."""
        return PhotoFile(self.path, self.data, self.media_type, self.size, self.time)


@dataclass(frozen=True)
class CaughtFish:
    """One fish of a catch photo: its box (None: the whole photo is the fish) and the pack's
    answer for it."""

    crop: Crop | None
    prediction: FishPrediction


def read_catch_photo(path: Path, config: StoreConfig | None = None) -> CatchPhoto:
    """Read a JPEG, PNG or WebP photo; :class:`CatchError` for anything else, a corrupt
    file, or one larger than the store (``config``, else the defaults) accepts."""
    data = read_photo_file(path, config or StoreConfig())
    media_type = media_type_of(data, path)
    try:
        image = decode_image(data, str(path))
    except ImageError as error:
        raise CatchError(str(error)) from error
    size = int(image.shape[1]), int(image.shape[0])
    return CatchPhoto(path, data, media_type, size, photo_time(data), image=image)


def read_photo_file(path: Path, limits: StoreConfig) -> bytes:
    """The bytes of the regular file at ``path``, read by the reader the face and fish tools
    share (:func:`inference.image_file.read_image_file`) up to the store's limit;
    :class:`CatchError` for anything else (/dev/zero never ends, a named pipe waits for a
    writer for ever, a folder has no bytes) or for a file over the store's limit, refused by
    its size before it is read, and read no further than one byte past the limit."""
    try:
        return read_image_file(path, limits.max_blob_bytes)
    except ImageTooLargeError as error:
        _check_size(limits, path, error.size)  # the store's own words for its limit
        raise CatchError(str(error)) from error
    except ImageError as error:
        raise CatchError(str(error)) from error


def media_type_of(data: bytes, path: Path) -> str:
    """The photo's type from its first bytes (a file's suffix says nothing reliable)."""
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data.startswith(_PNG):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise CatchError(f"{path} is not a {FORMATS} photo")


def _check_size(config: StoreConfig, path: Path, size: int) -> None:
    try:
        check_blob_size(config, f"photo {path}", size)
    except RecordTooLargeError as error:
        raise CatchError(str(error)) from error


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
    as it is, again or not)."""
    if not fish:
        raise CatchError("no fish to record")
    confirmed = list(confirmed_species) or [None] * len(fish)
    if len(confirmed) != len(fish):
        raise CatchError(
            f"{len(fish)} fish but {len(confirmed)} confirmed species: give one per fish"
        )
    check_crops(photo, [one.crop for one in fish])
    now = clock.now() if recorded_at is None else recorded_at
    when = observed_time(
        details.observed_at, photo.time, now, hub_seen=observations.hub_time_seen()
    )
    stored_photo = Photo(photo.data, photo.media_type, taken_at=when.at)  # the file's times lie
    if photo_uid is not None:
        stored_photo = replace(stored_photo, photo_uid=photo_uid)
    makers = [
        _observation_of(one, details, when.at, now, typed)
        for one, typed in zip(fish, confirmed, strict=True)
    ]
    for number, make in enumerate(makers, start=1):
        _check_fish(number, len(makers), make, stored_photo)
    try:
        return observations.add_with_photo(
            stored_photo, [make() for make in makers], refuse_recorded=not again
        )
    except CatchRecordedError:
        raise
    except PhotoRecordedError as error:
        raise RecordedBeforeError(photo.path, error.earlier) from None


# EXIF 2.31 (July 2016) added the offset a photo's time is used with; a camera that writes
# one and says it took the photo earlier has a clock that was never set (a reset clock
# starts at its firmware's date: 2000 and 1970 are common).
EXIF_OFFSETS_SINCE = datetime(2016, 7, 1, tzinfo=UTC)


# With the clock behind the hub time seen, the true time is later than that, by as much as
# the boat has been at sea since its last sync: a catch's time is taken up to this far past
# it. A year typed wrong is still refused.
CLOCK_BEHIND_SLACK = timedelta(days=90)


@dataclass(frozen=True)
class ObservedTime:
    """When a catch was made, and what says so."""

    at: datetime
    source: str  # "given" (by the officer), "photo" (its EXIF record) or "recorded" (now)
    note: str | None = None
    """Why the photo's own time was not used, where it has one, and that the device's clock
    looks wrong, where it does."""


def observed_time(
    given: datetime | None,
    photo: PhotoTime | None,
    now: datetime,
    *,
    hub_seen: datetime | None = None,
) -> ObservedTime:
    """The officer's time first, then the photo's, then the time of recording. A photo's
    time is used only when it names a moment (an offset) no later than ``now`` and not
    before ``EXIF_OFFSETS_SINCE``: one ahead of the clock, or from before cameras wrote
    offsets, means a clock is wrong, and the recording time is then the honest answer.

    ``hub_seen`` is the newest hub time this device has pulled (``Observations.hub_time_seen``).
    A clock that reads more than ``BEHIND_TOLERANCE`` before it is wrong (a dead RTC battery):
    the true time is at least ``hub_seen``, so times up to ``hub_seen`` plus
    ``CLOCK_BEHIND_SLACK`` are taken instead of ``now``, the time of recording is
    ``hub_seen``, and the note (or the refusal) says the clock looks wrong.
    Deterministic: the same arguments give the same answer."""
    wrong = hub_seen is not None and now < hub_seen - BEHIND_TOLERANCE
    latest, recorded = now, now
    clock = None
    if wrong and hub_seen is not None:
        latest, recorded = hub_seen + CLOCK_BEHIND_SLACK, hub_seen
        clock = (
            f"this device's clock looks wrong: it reads {format_timestamp(now)}, before the"
            f" hub time {format_timestamp(hub_seen)} it has seen; set it right"
        )
    if given is not None:
        if given > latest:
            also = f" ({clock}; times up to {format_timestamp(latest)} are taken)" if clock else ""
            raise CatchError(f"the time of the catch {given.isoformat()} is in the future{also}")
        return ObservedTime(given, "given", clock)
    if clock:
        clock += "; recorded as of that hub time, --observed-at gives the catch's own"
    if photo is None:
        return ObservedTime(recorded, "recorded", clock)
    note = None
    if photo.taken_at is None:
        note = f"the photo's time {photo.reading} names no time zone (--observed-at gives one)"
    elif photo.taken_at > latest:
        note = f"the photo's time {photo.taken_at.isoformat()} is later than this clock"
    elif photo.taken_at < EXIF_OFFSETS_SINCE:
        note = f"the photo's time {photo.taken_at.isoformat()} predates cameras that write it"
    else:
        return ObservedTime(photo.taken_at, "photo", clock)
    return ObservedTime(recorded, "recorded", "; ".join(n for n in (note, clock) if n))


def _observation_of(
    fish: CaughtFish,
    details: CatchDetails,
    observed_at: datetime,
    now: datetime,
    typed: str | None,
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


def species_classifier_for(store: Store, env: Mapping[str, str] | None = None) -> SpeciesClassifier:
    """The classifier ``jaga catch`` uses with this store, chosen as the app chooses at
    start-up (``SpeciesPacks.load_first``): the newest pack a sync installed that loads (its
    files verify *and* its model takes the input its manifest declares), else the default
    pack that ``jaga models install`` built. Only a pack that loaded is noted as in use, so
    that sync keeps it while newer packs arrive (``record_pack_in_use``): a pack noted on
    its files alone could be one the classifier refuses, and the last one that worked would
    be removed at the next install."""
    classifier, kept = _first_that_loads(store, env)
    if kept is not None:
        record_pack_in_use(store, kept)
    return classifier


def species_pack_for(store: Store, env: Mapping[str, str] | None = None) -> SpeciesPack:
    """The pack whose species names ``jaga store confirm`` uses: the one ``jaga catch`` and
    the app classify with (:func:`species_classifier_for`), so its model is loaded too; a
    newer pack whose files verify but whose model is refused names nothing. It is not noted
    as in use: confirming a species is no use of the pack for sync to protect."""
    return _first_that_loads(store, env)[0].pack


def pack_in_use(store: Store, env: Mapping[str, str] | None = None) -> Path | None:
    """The folder of the installed pack ``jaga catch`` and the app classify with, chosen as
    they choose it (the newest that loads); None: the default pack. What ``jaga sync
    status`` names as in use when the newest pack is damaged (``sync.client.status.PackInUse``),
    which a check of the files alone would not tell: a pack whose files verify may still be
    refused. It notes nothing."""
    loaded = _installed_that_loads(store, env)
    return None if loaded is None else loaded[1]


def _first_that_loads(
    store: Store, env: Mapping[str, str] | None
) -> tuple[SpeciesClassifier, Path | None]:
    """The classifier of the newest installed pack that loads, and that pack's folder; else
    the default pack's, and None."""
    from inference.fish.classify import SpeciesClassifier
    from inference.fish.installed import installed_default_pack

    loaded = _installed_that_loads(store, env)
    if loaded is not None:
        return loaded
    return SpeciesClassifier.from_path(installed_default_pack()), None


def _installed_that_loads(
    store: Store, env: Mapping[str, str] | None
) -> tuple[SpeciesClassifier, Path] | None:
    """The classifier of the newest installed pack that loads, and its folder; None when
    none does (or none is installed)."""
    from inference.errors import InferenceError
    from inference.fish.classify import SpeciesClassifier

    for kept in installed_species_packs(store, packs_dir_for(store.path, env)):
        try:
            return SpeciesClassifier.from_path(kept), kept
        except (InferenceError, OSError) as error:  # a failing card's OSError too: the next
            _log.warning("species pack %s refused, trying the next: %s", kept, error)
    return None
