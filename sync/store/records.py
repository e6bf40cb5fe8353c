"""Values that cross the store's API: small frozen dataclasses, validated on construction.

Times are aware ``datetime`` objects (stored as UTC text). Vectors are read-only float32
arrays. Uids are uuid4 strings, the identity a record keeps on every device and on the hub.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sync import limits


def new_uid() -> str:
    return str(uuid.uuid4())


def _require_text(name: str, value: str) -> None:
    if not value or not value.strip():
        raise ValueError(f"{name} must not be empty")


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def _require_unit_interval(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")


@dataclass(frozen=True)
class ModelRef:
    """The model that made a template. Templates of different refs are never compared."""

    model_id: str
    model_version: str

    def __post_init__(self) -> None:
        _require_text("model_id", self.model_id)
        _require_text("model_version", self.model_version)

    def __str__(self) -> str:
        return f"{self.model_id}@{self.model_version}"


MAX_CONSENT_DAYS = limits.MAX_CONSENT_DAYS


@dataclass(frozen=True)
class Consent:
    """The consent a person gave: which text, when, before which operator, kept until when."""

    text_version: str
    given_at: datetime
    operator: str
    retain_until: datetime

    def __post_init__(self) -> None:
        _require_text("consent text_version", self.text_version)
        _require_text("consent operator", self.operator)
        _require_aware("given_at", self.given_at)
        _require_aware("retain_until", self.retain_until)
        if self.retain_until <= self.given_at:
            raise ValueError("retain_until must be after given_at")


@dataclass(frozen=True)
class Person:
    """An enrolled person, as stored."""

    person_uid: str
    external_id: str
    display_name: str
    site: str
    consent: Consent
    created_at: datetime

    def __post_init__(self) -> None:
        _require_text("external_id", self.external_id)
        _require_text("display_name", self.display_name)
        _require_text("site", self.site)
        _require_aware("created_at", self.created_at)


@dataclass(frozen=True, eq=False)
class Template:
    """A face template: one embedding vector and where it came from."""

    model: ModelRef
    vector: NDArray[np.float32]
    quality: float
    source: str
    template_uid: str = field(default_factory=new_uid)

    def __post_init__(self) -> None:
        vector = np.array(self.vector, dtype=np.float32, copy=True)
        if vector.ndim != 1 or vector.size == 0:
            raise ValueError(f"a template vector is 1-D and non-empty, got shape {vector.shape}")
        if not np.all(np.isfinite(vector)) or not np.any(vector):
            raise ValueError("a template vector must be finite and not all zero")
        vector.setflags(write=False)
        object.__setattr__(self, "vector", vector)
        _require_unit_interval("quality", self.quality)
        _require_text("source", self.source)


@dataclass(frozen=True)
class Photo:
    """An image kept in the store (an enrolment photo or a fish photo)."""

    data: bytes = field(repr=False)
    media_type: str
    taken_at: datetime
    photo_uid: str = field(default_factory=new_uid)

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("a photo has bytes")
        _require_text("media_type", self.media_type)
        _require_aware("taken_at", self.taken_at)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class DuplicateMatch:
    """An enrolled person whose templates are close to the new ones."""

    person_uid: str
    external_id: str
    display_name: str
    similarity: float
    model: ModelRef


@dataclass(frozen=True)
class Enrolment:
    """What ``enrol`` wrote, and the duplicates the operator accepted (if any)."""

    person: Person
    template_uids: tuple[str, ...]
    photo_uids: tuple[str, ...]
    accepted_duplicates: tuple[DuplicateMatch, ...]


@dataclass(frozen=True)
class SpeciesScore:
    species: str
    confidence: float

    def __post_init__(self) -> None:
        _require_text("species", self.species)
        _require_unit_interval("confidence", self.confidence)


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude <= 90.0 or not -180.0 <= self.longitude <= 180.0:
            raise ValueError(f"not a position: {self.latitude}, {self.longitude}")


MAX_CROP_PIXELS = 100_000
"""The largest crop coordinate or side, in pixels: far beyond any camera, and the wire's bound."""


@dataclass(frozen=True)
class Crop:
    """One fish's box in its photo, in the photo's pixels: top-left corner, then size.

    Whether the box lies inside the photo is checked where the photo is at hand (the catch
    flow, the training export); here only that it is a box at all."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("x", "y", "width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"crop {name} must be a whole number of pixels, got {value!r}")
            low = 1 if name in ("width", "height") else 0
            if not low <= value <= MAX_CROP_PIXELS:
                raise ValueError(f"crop {name} must lie in [{low}, {MAX_CROP_PIXELS}], got {value}")

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.width, self.height)

    def fits(self, width: int, height: int) -> bool:
        """Whether the box lies wholly inside a photo of ``width`` x ``height`` pixels."""
        return self.x + self.width <= width and self.y + self.height <= height

    def __str__(self) -> str:
        return f"{self.width}x{self.height} at ({self.x}, {self.y})"


class PredictionStatus(StrEnum):
    """The species pack's verdict on one fish, as the classifier gave it (its ``FishStatus``,
    which ``sync`` does not import; tests/desktop/test_catch.py keeps the two equal)."""

    IDENTIFIED = "identified"  # the top-1 species, at or above the pack's open-set threshold
    UNKNOWN = "unknown"  # the top-1 scored below it: the pack names no species
    NO_FISH = "no_fish"  # failed the quality gate, or like none of the species: no candidates


@dataclass(frozen=True)
class FishObservation:
    """One catch record: what the classifier said, what the officer confirmed, and where.

    ``reviewed_by`` / ``reviewed_at`` name who confirmed the species and when (an officer on
    this device, or the hub's reviewer); both or neither. ``pack_version`` is the version of
    the species pack whose classifier made ``predictions``, so a reviewer can tell which pack
    erred and packs can be compared; None for a record made before the store kept it (schema
    4) or without a classifier. ``crop`` is the fish's box in the photo (schema 5), what the
    predictions were made on when one photo holds several fish; None is the whole photo,
    unless ``crop_known`` is False (schema 9): this device was never told the box (pulled
    while it spoke protocol 2, which does not carry it), so None says nothing and the
    device's edits leave the box out.
    ``status`` is the pack's verdict on those predictions (schema 8): only ``identified``
    makes the first of them the pack's answer; an ``unknown`` or ``no_fish`` names no
    species, whatever its candidates. None: not recorded (a record made before schema 8, or
    pulled from a device that did not send it). ``status_reason`` says why the pack
    found no fish; only with ``no_fish``. An officer's ``confirmed_species`` is the species
    whatever the status. A review that names no species (``reviewed_by`` given,
    ``confirmed_species`` None) is a reviewer's answer "not a fish" (``not_a_fish``): the
    observation is resolved, and it is never a label to train on.
    ``recorded_here`` says where this device's copy came from (schema 11): True for a catch
    recorded on this device, False for one pulled from the hub (another boat's). The store
    sets it; ``Observations.add`` records a catch made here whatever it says.
    """

    observed_at: datetime
    predictions: tuple[SpeciesScore, ...]
    needs_review: bool
    officer: str
    count: int = 1
    confirmed_species: str | None = None
    position: Position | None = None
    vessel: str | None = None
    trip: str | None = None
    haul: str | None = None
    length_cm: float | None = None
    notes: str = ""
    photo_uid: str | None = None
    observation_uid: str = field(default_factory=new_uid)
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    pack_version: str | None = None
    crop: Crop | None = None
    status: PredictionStatus | None = None
    status_reason: str | None = None
    crop_known: bool = True
    recorded_here: bool = True

    def __post_init__(self) -> None:
        if not self.crop_known and self.crop is not None:
            raise ValueError("a crop that is not known cannot be a box")
        _require_aware("observed_at", self.observed_at)
        _require_text("officer", self.officer)
        if self.pack_version is not None:
            _require_text("pack_version", self.pack_version)
        if self.status is not None:  # its text, as the store and the wire hold it, is taken
            object.__setattr__(self, "status", PredictionStatus(self.status))
        if self.status_reason is not None:
            _require_text("status_reason", self.status_reason)
            if self.status is not PredictionStatus.NO_FISH:
                raise ValueError("status_reason says why there is no fish: only with no_fish")
        if (self.reviewed_by is None) != (self.reviewed_at is None):
            raise ValueError("reviewed_by and reviewed_at go together: give both or neither")
        if self.reviewed_by is not None and self.reviewed_at is not None:
            _require_text("reviewed_by", self.reviewed_by)
            _require_aware("reviewed_at", self.reviewed_at)
        if self.count < 1:
            raise ValueError(f"count must be at least 1, got {self.count}")
        if self.length_cm is not None and not (
            math.isfinite(self.length_cm) and self.length_cm > 0
        ):
            raise ValueError(f"length_cm must be positive, got {self.length_cm}")
        confidences = [score.confidence for score in self.predictions]
        if confidences != sorted(confidences, reverse=True):
            raise ValueError("predictions are top-k: best first")

    def predictions_json(self) -> str:
        return json.dumps([[s.species, s.confidence] for s in self.predictions])

    @property
    def not_a_fish(self) -> bool:
        """A reviewer answered that the photo shows no fish: reviewed, and no species."""
        return self.reviewed_by is not None and self.confirmed_species is None


@dataclass(frozen=True)
class AccessEvent:
    """A kiosk decision: who (if anyone) was recognised, and how confidently."""

    occurred_at: datetime
    site: str
    device: str
    decision: str
    person_uid: str | None = None
    similarity: float | None = None
    liveness: float | None = None
    event_uid: str = field(default_factory=new_uid)
    clock_suspect: str | None = None  # why the clock was judged wrong then (schema 19)

    def __post_init__(self) -> None:
        _require_aware("occurred_at", self.occurred_at)
        if self.clock_suspect is not None:
            _require_text("clock_suspect", self.clock_suspect)
        _require_text("site", self.site)
        _require_text("device", self.device)
        _require_text("decision", self.decision)
        _require_unit_interval("liveness", self.liveness)
        if self.similarity is not None and not (
            math.isfinite(self.similarity) and -1.0 <= self.similarity <= 1.0
        ):
            raise ValueError(f"similarity is a cosine in [-1, 1], got {self.similarity!r}")


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class OutboxEntry:
    """One change waiting for (or done with) the hub."""

    sequence: int
    idempotency_key: str
    entity: str
    entity_uid: str
    operation: str
    payload_json: str
    state: OutboxState
    created_at: datetime
    state_changed_at: datetime
    attempts: int  # sends, answered or not
    reject_reason: str | None
    refusals: int = 0  # the hub's retryable refusals (schema 3)

    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.payload_json)
        return value


@dataclass(frozen=True)
class AuditEntry:
    """One link of the audit chain."""

    sequence: int
    at: datetime
    actor: str
    action: str
    subject: str
    details_json: str
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class AuditReport:
    """The result of walking the chain: ``ok``, or the first entry that breaks it and why.

    ``out_of_reach``: the chain is whole, but the recorded head it was asked to find is one
    retention deleted (why, in words): it can be checked on the hub, not here. ``events``:
    why each access event that does not match its audit entry is wrong
    (``sync.store.event_audit``); the chain may be whole with them."""

    entries: int
    first_bad_sequence: int | None = None
    problem: str | None = None
    out_of_reach: str | None = None
    events: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.events
