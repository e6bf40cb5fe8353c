"""Payload schemas per (entity, operation): what the store enqueues and the hub sends back.

The shapes follow the store's ``*_payload`` functions (``sync.store.person_payloads``,
``sync.store.observations``, ``sync.store.access``, ``sync.store.photos``). The hub validates
an entry's payload with ``parse_payload`` and rejects the entry, not the batch, when it fails;
change-log payloads use the same shapes, so a device applies a pulled change with the same
schema it pushed with.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, ValidationError, model_validator

from sync import limits
from sync.protocol.types import (
    MAX_CROP_PIXELS,
    MAX_PHOTO_BYTES,
    MAX_PREDICTIONS,
    MAX_TEMPLATE_DIM,
    BadgeText,
    LongText,
    Name,
    RecordedText,
    Sha256Hex,
    Similarity,
    Slug,
    Timestamp,
    Uid,
    UnitFloat,
    WireModel,
)

Latitude = Annotated[float, Field(strict=True, ge=-90.0, le=90.0, allow_inf_nan=False)]
Longitude = Annotated[float, Field(strict=True, ge=-180.0, le=180.0, allow_inf_nan=False)]
MAX_VECTOR_ELEMENT = 1e4
CropOffset = Annotated[StrictInt, Field(ge=0, le=MAX_CROP_PIXELS)]
CropSide = Annotated[StrictInt, Field(ge=1, le=MAX_CROP_PIXELS)]
Crop = tuple[CropOffset, CropOffset, CropSide, CropSide]
"""A fish's box in its photo's pixels: ``[x, y, width, height]``."""
# At most 80 characters in all, the hub's column (a longer one failed its insert with a 500).
MediaType = Annotated[str, Field(strict=True, pattern=r"^[a-z]{1,19}/[a-z0-9.+-]{1,60}$")]


class ConsentPayload(WireModel):
    text_version: Name
    given_at: Timestamp
    operator: Name
    retain_until: Timestamp


class PersonUpsert(WireModel):
    person_uid: Uid
    external_id: BadgeText  # judged by sync.badges, at enrolment and by the hub
    display_name: Name
    site: Slug
    consent: ConsentPayload


# An erasure's reason travels in its tombstone (``PersonTombstone.reason``): the store
# refuses a longer one before it erases anything. In sync.limits, which `jaga store --help`
# reads without loading pydantic.
MAX_ERASURE_REASON_CHARS = limits.MAX_ERASURE_REASON_CHARS


# The reason of a tombstone for a consent's retention date passed (``People.purge_expired``
# on a device, ``sync.hub.retention`` on the hub): the hub applies a device's only once the
# person is past retention by the hub's own clock (``sync.hub.apply.people``).
RETENTION_REASON = "consent retention expired"


class PersonTombstone(WireModel):
    """An erasure: the person's data is gone everywhere, and no later edit brings it back."""

    person_uid: Uid
    erased_at: Timestamp
    reason: RecordedText  # as typed: an erasure applies whatever its reason (``types``)


class FaceTemplateUpsert(WireModel):
    """A template travels as little-endian float32, base64: the store's own byte layout."""

    template_uid: Uid
    person_uid: Uid
    model_id: Name
    model_version: Name
    dim: Annotated[int, Field(strict=True, ge=1, le=MAX_TEMPLATE_DIM)]
    vector_f32le_b64: Annotated[str, Field(strict=True, max_length=MAX_TEMPLATE_DIM * 6)]
    quality: UnitFloat
    source: Name

    @model_validator(mode="after")
    def _vector_matches_dim(self) -> FaceTemplateUpsert:
        self.vector()
        return self

    def vector(self) -> list[float]:
        """The decoded vector; finite, not all zero, ``dim`` long."""
        try:
            raw = base64.b64decode(self.vector_f32le_b64, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"vector_f32le_b64 is not base64: {error}") from None
        if len(raw) != self.dim * 4:
            raise ValueError(f"vector holds {len(raw)} bytes; dim {self.dim} needs {self.dim * 4}")
        values = list(struct.unpack(f"<{self.dim}f", raw))
        # Bounded so cosine arithmetic in float4 cannot overflow to inf or NaN.
        if not all(math.isfinite(v) and abs(v) <= MAX_VECTOR_ELEMENT for v in values):
            raise ValueError(f"template values must be finite and within ±{MAX_VECTOR_ELEMENT:g}")
        if sum(v * v for v in values) < 1e-12:
            raise ValueError("a template vector must not be (nearly) all zero")
        return values


class PhotoUpsert(WireModel):
    """Photo metadata; the bytes follow by the resumable upload."""

    photo_uid: Uid
    person_uid: Uid | None
    media_type: MediaType
    sha256: Sha256Hex
    byte_size: Annotated[int, Field(strict=True, ge=1, le=MAX_PHOTO_BYTES)]
    taken_at: Timestamp
    # A face image whose bytes the device keeps (its site lets only embeddings travel): no
    # upload follows, and the hub does not count it as one still to come (protocol 5).
    withheld: StrictBool = False


class FishObservationUpsert(WireModel):
    """A catch record; ``predictions`` are the classifier's top-k, best first.

    ``reviewed_by`` / ``reviewed_at`` (protocol 2) name who confirmed the species and when:
    the officer on deck, or the hub's reviewer. They travel with ``confirmed_species`` (on
    the hub they take that field's last-writer-wins stamp), both or neither. They default to
    None because payloads written under protocol 1 (still queued in a device's outbox, or
    already in the hub's change log) have neither.

    ``pack_version`` (protocol 3) is the version of the species pack that made
    ``predictions``; it travels with them (on the hub it takes their last-writer-wins
    stamp). A payload without the field (a protocol-2 device's, or one queued before its
    upgrade) says nothing about it, which is not the same as an explicit None ("no pack"):
    readers tell the two apart with ``model_fields_set``.

    ``crop`` (protocol 3) is the fish's box in the photo, ``[x, y, width, height]`` in the
    photo's pixels, when one photo holds several fish (each its own observation naming the
    same ``photo_uid``); None is the whole photo. It is what ``predictions`` were made on, so
    it travels with them as ``pack_version`` does, and its absence likewise says nothing.

    ``status`` (protocol 4) is the species pack's verdict on ``predictions``: ``identified``
    (the first is the pack's answer), ``unknown`` (the first scored below the pack's open-set
    threshold: no species is named, the list holds candidates only) or ``no_fish`` (the image
    failed the quality gate, or is like none of the pack's species; ``status_reason`` says
    why, and goes with no other status). A confirmed species is the species whatever the
    status. Both travel with ``predictions`` as ``pack_version`` does, and their absence
    likewise says nothing (None: not known).

    A reviewer's answer "not a fish" (a face, the deck) is a review that names no species:
    ``reviewed_by`` / ``reviewed_at`` given, ``confirmed_species`` None, ``needs_review``
    False. No field was added for it and no protocol bump: every version from 2 carries it,
    and an end of an older release reads it as reviewed with no species, so it leaves that
    end's review queue and its corrections export too (both take confirmed species only).

    A catch is the device's that first pushed it: from any other device of the site the hub
    takes only the review (``confirmed_species``, ``needs_review``, ``reviewed_by``,
    ``reviewed_at``) and keeps the rest of the payload's fields as that device holds them
    (``sync.hub.apply.records``).

    ``recorded_here`` (protocol 6) is what the pushing device says of itself: True, it
    recorded the catch; False, it pulled the catch from the hub and sends a review of it.
    A review of a catch the hub does not hold (a hub restored from a backup that lost it)
    makes the catch with no author, rather than the reviewing device its author; the first
    push of it saying True claims it, its facts and photo replacing the reviewer's
    (``sync.hub.apply.records``). Said as the entry is sent (``sync.client.push``), so an entry
    queued before protocol 6 says it too; None: not said (an older device), and the first
    device to push the catch is its author, as before. It is no fact of the catch: the hub
    neither stores it nor sends it in pulls, and an entry's content, for its idempotency
    key, leaves it out (``sync.hub.apply.push``).
    """

    observation_uid: Uid
    observed_at: Timestamp
    predictions: Annotated[list[tuple[Name, UnitFloat]], Field(max_length=MAX_PREDICTIONS)]
    confirmed_species: Name | None
    needs_review: StrictBool
    photo_uid: Uid | None
    position: tuple[Latitude, Longitude] | None
    vessel: Name | None
    trip: Name | None
    haul: Name | None
    count: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    length_cm: Annotated[float, Field(strict=True, gt=0, le=10_000, allow_inf_nan=False)] | None
    officer: Name
    notes: LongText
    reviewed_by: Name | None = None
    reviewed_at: Timestamp | None = None
    pack_version: Name | None = None
    crop: Crop | None = None
    status: Literal["identified", "unknown", "no_fish"] | None = None
    status_reason: Name | None = None
    recorded_here: StrictBool | None = None

    @model_validator(mode="after")
    def _reviewer_with_time(self) -> FishObservationUpsert:
        if (self.reviewed_by is None) != (self.reviewed_at is None):
            raise ValueError("reviewed_by and reviewed_at go together: give both or neither")
        if self.status_reason is not None and self.status != "no_fish":
            raise ValueError("status_reason says why there is no fish: only with no_fish")
        return self


class AccessEventUpsert(WireModel):
    """A kiosk decision. Events are append-only: the first version stored is final.

    ``clock_suspect`` (protocol 7) is why the kiosk's clock was judged wrong when it made the
    decision (``desktop.kiosk.clock_watch``): its ``occurred_at`` is what that clock read, not
    to be trusted. Sent only then; absent (None): the clock was judged right, or the device
    is older and did not judge it per decision. Text as recorded (``RecordedText``): it is in
    the device's audit chain as written, and a refusal would keep the decision off the hub.
    """

    event_uid: Uid
    occurred_at: Timestamp
    site: Slug
    device: Name
    decision: Name
    person_uid: Uid | None
    similarity: Similarity | None
    liveness: UnitFloat | None
    clock_suspect: RecordedText | None = None


class SpeciesPackPublished(WireModel):
    """Pulled by handhelds: a new species pack is ready to download."""

    version: Name
    sha256: Sha256Hex
    byte_size: int


PAYLOADS: dict[tuple[str, str], type[WireModel]] = {
    ("person", "upsert"): PersonUpsert,
    ("person", "tombstone"): PersonTombstone,
    ("face_template", "upsert"): FaceTemplateUpsert,
    ("photo", "upsert"): PhotoUpsert,
    ("fish_observation", "upsert"): FishObservationUpsert,
    ("access_event", "upsert"): AccessEventUpsert,
    ("species_pack", "publish"): SpeciesPackPublished,
}
"""What a device may push, plus ``species_pack`` which only the hub emits."""

ADDED_FIELDS: dict[tuple[str, str], dict[str, int]] = {
    ("photo", "upsert"): {"withheld": 5},
    ("access_event", "upsert"): {"clock_suspect": 7},
    ("fish_observation", "upsert"): {
        "pack_version": 3,
        "crop": 3,
        "status": 4,
        "status_reason": 4,
        "recorded_here": 6,
    },
}
"""Payload fields added after the oldest protocol a hub accepts, with the version of each."""

UID_FIELDS = {
    "person": "person_uid",
    "face_template": "template_uid",
    "photo": "photo_uid",
    "fish_observation": "observation_uid",
    "access_event": "event_uid",
}


class PayloadError(ValueError):
    """A payload that does not fit its entity's schema; the message is the rejection reason."""


def parse_payload(entity: str, operation: str, payload: dict[str, Any]) -> WireModel:
    """Validate a payload against its schema, or raise ``PayloadError`` with a short reason."""
    schema = PAYLOADS.get((entity, operation))
    if schema is None:
        raise PayloadError(f"unknown entity/operation {entity}/{operation}")
    try:
        return schema.model_validate(payload)
    except ValidationError as error:
        raise PayloadError(f"invalid {entity} payload: {summarize(error)}") from None


def payload_for_protocol(
    version: int, entity: str, operation: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """``payload`` as a reader of protocol ``version`` can parse it: without the fields added
    after that version, since its schema forbids unknown fields (the payload is not copied
    when nothing has to go)."""
    added = ADDED_FIELDS.get((entity, operation), {})
    newer = [name for name in payload if added.get(name, version) > version]
    if not newer:
        return payload
    return {name: value for name, value in payload.items() if name not in newer}


def summarize(error: ValidationError, limit: int = 3) -> str:
    """The first few problems of a validation error: one printable line, no input echoed,
    short enough for a ``Rejection`` (field names come from the sender, so they are cleaned)."""
    parts = []
    for detail in error.errors(include_url=False, include_input=False)[:limit]:
        where = ".".join(_printable(str(step))[:60] for step in detail["loc"]) or "body"
        parts.append(f"{where}: {_printable(detail['msg'])[:200]}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)
