"""Constrained value types and size limits shared by every wire schema.

Every string refuses NUL (PostgreSQL text cannot hold it, and no legitimate field needs it),
every name also a control character or bidirectional override, and free text an
embedding, override or isolate (``sync.protocol.names``),
every float refuses NaN and infinities, and every string and list has an upper bound, so a
hostile body is rejected by validation instead of reaching the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from sync import limits
from sync.protocol.names import free_text_problem, hidden_characters_problem

PROTOCOL_VERSION = 7
"""The wire protocol this module describes; bump it for any incompatible change.

1. The first release.
2. ``Rejection.retryable`` (the hub says whether sending an entry again can succeed);
   ``FishObservationUpsert.reviewed_by`` / ``reviewed_at`` (who confirmed the species, when).
3. ``FishObservationUpsert.pack_version`` (the species pack that made the predictions) and
   ``FishObservationUpsert.crop`` (the fish's box when one photo holds several fish).
4. ``FishObservationUpsert.status`` / ``status_reason`` (the species pack's verdict on the
   predictions: ``identified``, ``unknown`` or ``no_fish``, and why there was no fish).
5. ``PhotoUpsert.withheld`` (a face image the device keeps by its site's policy: the hub
   counts it apart from photos whose bytes are still to come).
6. ``FishObservationUpsert.recorded_here`` (whether the pushing device recorded the catch or
   sends a review of one it pulled: a catch the hub makes from a review has no author until
   the device that recorded it pushes it).
7. ``AccessEventUpsert.clock_suspect`` (why the kiosk's clock was judged wrong when it made
   the decision: its time is not to be trusted).

Adding a field is incompatible here because every schema forbids unknown fields: a
protocol-1 device cannot read a push answer that carries ``retryable`` (it would take the
answer for garbage and send the batch again forever), and a protocol-1 hub rejects, and the
device would quarantine, every confirmation that names its reviewer. With the bump, a push
between mismatched ends is refused whole with ``unsupported_protocol`` and the client
pauses until one end is upgraded: nothing is quarantined and nothing is lost. The new fields
also have defaults, for what was written before them: entries still queued in a device's
outbox and changes already in the hub's log hold no reviewer, and read as "none".

From 3 on, the hub also serves the older versions back to 2 (``ACCEPTED_PROTOCOL_VERSIONS``),
so a fleet upgrades the hub first and then its devices one by one: an older push is applied
as it is (it has none of the newer fields, and the hub keeps what it holds for them), and an
older pull gets the changes without the fields its reader would refuse
(``entities.payload_for_protocol``). A device newer than its hub is still refused whole
and pauses.
"""

ACCEPTED_PROTOCOL_VERSIONS = frozenset({2, 3, 4, 5, 6, PROTOCOL_VERSION})
"""The versions a hub of this code serves, pushes and pulls alike: its own and the older ones
back to 2 (each differs only by payload fields that ``payload_for_protocol`` leaves out).
Protocol 1 cannot read a push answer that carries ``Rejection.retryable``."""

# Every code the hub answers a 401 or 403 with (DRF's for a missing or malformed token,
# ``sync.hub.auth``'s, and the views' refusals of another site's or device's data): only a
# 401/403 carrying one of them is the hub refusing this device, which pauses its sync.
AUTH_ERROR_CODES = frozenset(
    {
        "not_authenticated",
        "authentication_failed",
        "permission_denied",
        "unknown_token",
        "device_revoked",
        "wrong_site",
        "wrong_device",
        "search_not_allowed",
    }
)
# The codes of the hub's own 413 (``sync.hub.api``): the body is over the hub's limit.
TOO_LARGE_CODES = frozenset({"too_large", "chunk_too_large"})

MAX_BATCH_ENTRIES = limits.MAX_BATCH_ENTRIES
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PUSH_BODY_BYTES = 4 * 1024 * 1024
MAX_JSON_BODY_BYTES = 64 * 1024
MAX_PULL_LIMIT = limits.MAX_PULL_LIMIT
DEFAULT_PULL_LIMIT = 500
MAX_CHUNK_BYTES = limits.MAX_CHUNK_BYTES
MAX_PHOTO_BYTES = 32 * 1024 * 1024
MAX_TEMPLATE_DIM = 4096
MAX_PREDICTIONS = 20
MAX_CROP_PIXELS = 100_000  # a crop's coordinates and sides: far beyond any camera
MAX_SEARCH_K = 50
BIGINT_MAX = 2**63 - 1
# The store's timestamp form: fixed width, so text order is time order on every device.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


def _plain_name(value: str) -> str:
    """A name holds no NUL (as all text), nor any character that shows it as another name
    (``sync.protocol.names``). Tightening this needs no new protocol version: what a hub
    of this code refuses from an older device is one entry's ``Rejection``, quarantined
    there like any payload the hub refuses, and a change a device of this code cannot
    parse is skipped on pull; neither holds back the rest of a queue or a log."""
    if problem := hidden_characters_problem(_no_nul(value)):
        raise ValueError(problem)
    return value


def _free_text(value: str) -> str:
    """Free text holds no NUL, nor a bidirectional control that reorders what follows it
    (``sync.protocol.names``); its line breaks, tabs and marks stay. Refused as ``Name``'s
    rule is, with no new protocol version: an older device's entry holding one is refused
    alone and quarantined there, and a change logged before is skipped on pull."""
    if problem := free_text_problem(_no_nul(value)):
        raise ValueError(problem)
    return value


def _uid_text(value: Any) -> Any:
    """Uids arrive as JSON strings; a number is a type error, not a uid (pydantic would take
    16 raw bytes or an int)."""
    if not isinstance(value, str | UUID):
        raise ValueError("expected a uuid string")
    return value


def _time_text(value: Any) -> Any:
    """Times arrive as ISO-8601 strings; a number is a type error, not seconds since 1970."""
    if not isinstance(value, str | datetime):
        raise ValueError("expected an ISO-8601 time with a timezone")
    return value


def _plausible_time(value: datetime) -> datetime:
    """A time whose UTC form has a four-digit year. ``%Y`` writes year 999 as ``999``, which
    sorts after ``2026`` as text: a device sending such a time would win every LWW field it
    touched, for ever. (A device clock reset to 1970 is still a time, and is taken.)"""
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        raise ValueError("the time lies outside the years 1000-9999") from None
    if not 1000 <= year <= 9999:
        raise ValueError("the time lies outside the years 1000-9999")
    return value


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


NAME_MAX_LENGTH = 200  # also the hub's name columns (CharField max_length=200)
TEXT_MAX_LENGTH = limits.TEXT_MAX_LENGTH
Text = Annotated[
    StrictStr, StringConstraints(max_length=TEXT_MAX_LENGTH), AfterValidator(_free_text)
]
# Text that travels as it was recorded, refusing only NUL: an erasure's reason (an erasure
# must apply on the hub and every device whatever its reason says) and an audit entry's
# actor and subject (hashed into the device's chain as written: refused, the chain could
# never reach the hub again). A device's terminal shows them escaped (``sync.store.audit``).
RecordedText = Annotated[
    StrictStr, StringConstraints(max_length=TEXT_MAX_LENGTH), AfterValidator(_no_nul)
]
Name = Annotated[
    StrictStr,
    StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH),
    AfterValidator(_plain_name),
]
# A person's badge (``external_id``) is judged by its own rule, ``sync.badges``: a new one
# holds no control character at all (bidirectional controls among them) and more, while one
# the hub held before it judged badges still travels (its people apply on every device).
BadgeText = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH), AfterValidator(_no_nul)
]
LongText = Annotated[StrictStr, StringConstraints(max_length=4000), AfterValidator(_free_text)]
SLUG_PATTERN = limits.SLUG_PATTERN  # a site's slug, everywhere it is checked
Slug = Annotated[StrictStr, StringConstraints(pattern=SLUG_PATTERN)]
SLUG_RULE = "1 to 63 lower-case letters, digits, - and _, the first a letter or digit"
_SLUG_ADAPTER: TypeAdapter[str] = TypeAdapter(Slug)


def check_slug(text: str) -> str:
    """``text`` if the protocol carries it as a site's slug (its own check, ``Slug``: a
    trailing newline is refused too), else ``ValueError`` saying what a slug is. Every place
    that makes a site checks with it first: a site the protocol cannot name has devices
    that can never register (the hub's answer names their site)."""
    try:
        return _SLUG_ADAPTER.validate_python(text)
    except ValidationError:
        raise ValueError(f"not a site slug ({SLUG_RULE}): {text!r}") from None


Sha256Hex = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Uid = Annotated[UUID, BeforeValidator(_uid_text)]
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_time_text),
    AfterValidator(_plausible_time),
    PlainSerializer(format_timestamp, return_type=str),
]
Cursor = Annotated[int, Field(strict=True, ge=0, le=BIGINT_MAX)]
UnitFloat = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]
Similarity = Annotated[float, Field(strict=True, ge=-1.0, le=1.0, allow_inf_nan=False)]


class WireModel(BaseModel):
    """Base of every wire schema: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ErrorBody(WireModel):
    """Every 4xx (and the 5xx that should never happen) carries this JSON body.

    ``error`` is a stable machine code the client acts on (a 401/403 with one of
    ``AUTH_ERROR_CODES`` pauses sync; ``offset_mismatch`` resumes an upload at
    ``expected_offset``); ``reason`` is for people. A 401, 403 or 413 without this body is
    not the hub's: a captive portal, firewall or proxy in between answered.
    """

    error: str
    reason: str
    expected_offset: int | None = None
