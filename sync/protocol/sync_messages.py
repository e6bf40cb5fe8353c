"""Push and pull: outbox entries up to the hub, the site's change log back down.

An entry mirrors a row of the device outbox (``sync.store.outbox``): the uuid idempotency
key, the device's sequence, the entity and its uid, the operation, the JSON payload and the
time the change was made on the device. The payload is checked per entity by the hub
(``sync.protocol.entities``), so one bad entry is rejected with its reason while the rest of
the batch is applied.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, JsonValue, StrictBool, field_validator

from sync.protocol.entities import SpeciesPackPublished
from sync.protocol.types import (
    DEFAULT_PULL_LIMIT,
    MAX_BATCH_ENTRIES,
    MAX_PAYLOAD_BYTES,
    MAX_PULL_LIMIT,
    PROTOCOL_VERSION,
    Cursor,
    Text,
    Timestamp,
    Uid,
    WireModel,
    format_timestamp,
)

PACK_SCHEMA_HEADER = "X-Jaga-Pack-Schema"
"""A pull's header: the newest species pack schema the device's classifier reads (decimal).

A header, not a query parameter, so that it is additive within a protocol: a hub that does
not know it ignores it (a ``PullRequest`` refuses an unknown parameter), and a device that
does not send it (every release before it) reads schema 1 only. The hub announces to a
device only the packs it reads, and answers it the newest of them (``PullResult``)."""

LOG_EPOCH_HEADER = "X-Jaga-Log-Epoch"
"""A pull's header: the site's log epoch the device last saw (a uuid), or ``none``.

Sending it says the device reads ``PullResult.log_epoch``; a hub that does not know it
ignores it, and a device that does not send it (every release before it) is answered as
before. The hub renews a site's epoch when its change log was rewound (the database
restored from a backup: ``sync.hub.log_epoch``); a device that sees another epoch than the
one it kept pulls the site again from the start and pushes again what it authored
(``sync.client.log_epoch``). Additive like ``PACK_SCHEMA_HEADER``: no protocol version."""
NO_LOG_EPOCH = "none"

LOG_TIP_HEADER = "X-Jaga-Log-Tip"
"""A pull's header, sent with ``LOG_EPOCH_HEADER`` from a cursor past 0: the fingerprint
(``change_fingerprint``) of the change at that cursor, the last this device applied.

A log rewound by a restore grows back: a device's push, a hub review, another device's
enrolment each take the next cursor, so a device's cursor is soon no longer past the log
(every sync pushes before it pulls). What the hub holds at that cursor is then another
change than the one the device applied there, and the hub renews the log's epoch
(``sync.hub.log_epoch``), but only when the tip comes with the hub's own seal of it
(``LOG_SEAL_HEADER``): an unsealed tip is no evidence. A hub that does not know the header
ignores it."""

LOG_SEAL_HEADER = "X-Jaga-Log-Seal"
"""The hub's seal of a log tip (hex), both ways.

In a pull answer that names the log epoch and brings changes: the hub's HMAC (keyed by its
secret key, which a restore of its database does not rewind) over the site, the epoch, and
the cursor and fingerprint of the answer's last change. The device keeps it with that tip
and sends it back with ``LOG_TIP_HEADER`` from that cursor: the hub takes a tip as evidence
of a rewound log only when it sealed it itself, in the site's current epoch, so no device
token can have the site renewed by a made-up cursor or fingerprint (``sync.hub.log_epoch``).
Additive: a hub that sends no seal gets none back, and one that does not know the header
ignores it."""

_FINGERPRINT_LENGTH = 32  # hex digits of sha256: the header needs no more


def change_fingerprint(
    cursor: int, entity: str, entity_uid: UUID, operation: str, changed_at: datetime
) -> str:
    """What names the change at ``cursor``, as both ends hold it: its record, operation and
    time (not its payload, which an erasure blanks)."""
    text = "\n".join(
        (str(cursor), entity, str(entity_uid), operation, format_timestamp(changed_at))
    )
    return hashlib.sha256(text.encode()).hexdigest()[:_FINGERPRINT_LENGTH]


EntityName = Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Operation = Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class OutboxEntry(WireModel):
    """One outbox row as it travels."""

    idempotency_key: Uid
    sequence: Cursor
    entity: EntityName
    entity_uid: Uid
    operation: Operation
    payload: dict[str, JsonValue]
    occurred_at: Timestamp

    @field_validator("payload")
    @classmethod
    def _bounded(cls, payload: dict[str, JsonValue]) -> dict[str, JsonValue]:
        if len(json.dumps(payload)) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"a payload holds at most {MAX_PAYLOAD_BYTES} bytes of JSON")
        return payload


class PushBatch(WireModel):
    """Entries in outbox sequence order; the hub applies them in that order.

    ``protocol_version`` is the sender's; a hub refuses the whole batch unless it is one of
    its ``ACCEPTED_PROTOCOL_VERSIONS``.
    """

    device_id: Uid
    protocol_version: Annotated[
        int,
        Field(
            strict=True,
            description=(
                "the sender's protocol; the hub accepts its own and the older ones back to 2"
            ),
        ),
    ] = PROTOCOL_VERSION
    entries: Annotated[list[OutboxEntry], Field(max_length=MAX_BATCH_ENTRIES)]


KEY_REUSED_REASON = "idempotency key already used for different content"
"""A ``Rejection``'s reason for an entry whose key the hub applied before with other content
(never retryable): the same key never passes. A device sends such a photo upsert under a
new key when an operator requeues it (``sync.store.outbox_quarantine``)."""


class Rejection(WireModel):
    """An entry the hub did not apply, with the reason, and whether to send it again.

    ``retryable`` (protocol 2) is the hub's verdict on the cause, so the device never has to
    read the reason's words: True for a condition that passes (a lock or serialization
    conflict, a record it depends on not received yet), and the device keeps the entry
    queued and sends it later with the same key; False for the entry itself (invalid,
    another site's data, append-only, a reused key), and the device quarantines it with
    ``reason``. It defaults to False because a quarantined entry is visible with its reason
    and can be dealt with, while one retried forever silently never drains.
    """

    key: Uid
    reason: Text
    retryable: StrictBool = False


class PushResult(WireModel):
    """Every entry of the batch is in exactly one of the two lists.

    A replayed key (a push whose answer was lost) is acknowledged again and stored once.
    """

    acknowledged: list[Uid]
    rejected: list[Rejection]


class PullRequest(WireModel):
    """Changes of the device's site after ``cursor`` (0: from the beginning).

    ``protocol_version`` travels as a query parameter. Protocol-1 clients did not send one,
    so its absence means 1: such a client cannot read changes that carry version-2 fields
    (it would skip them and move its cursor past them), so the hub refuses it as it refuses
    its pushes, and the device pauses until it is upgraded. A protocol-2 or -3 client is
    served: its changes come without the fields later protocols added
    (``payload_for_protocol``).
    """

    cursor: Cursor = 0
    limit: Annotated[int, Field(strict=True, ge=1, le=MAX_PULL_LIMIT)] = DEFAULT_PULL_LIMIT
    protocol_version: Annotated[int, Field(strict=True, ge=1)] = 1


class Change(WireModel):
    """One entry of a site's change log: the hub's resolved state of a record.

    ``changed_at`` is when the hub logged it, or the newest field stamp of the record when
    that is later (a device clock ahead, within the hub's skew): an edit stamped after it
    wins over this version. The pull's HTTP ``Date`` is the hub's time when it answered.
    """

    cursor: Cursor
    entity: EntityName
    entity_uid: Uid
    operation: Operation
    payload: dict[str, JsonValue]
    changed_at: Timestamp
    origin_device: Uid | None = None


class PullResult(WireModel):
    """Pull again with ``next_cursor`` while ``has_more``.

    ``species_pack`` is the newest pack the device reads, as the hub holds it when it
    answers: in the answer to a pull that sent ``PACK_SCHEMA_HEADER`` only (earlier clients
    refuse unknown fields), and absent when the hub holds none the device reads. It does not
    depend on the cursor, so a device that says it reads a newer schema than before learns
    of a pack whose announcement it was not sent, and is already past in the change log.
    The newest is the pack published last (the order of the announcements), never the one
    with the latest ``published_at``.

    ``log_epoch`` is the site's change-log epoch, in the answer to a pull that sent
    ``LOG_EPOCH_HEADER`` only (earlier clients refuse unknown fields): another one than the
    device kept means the log it pulled was rewound (``sync.hub.log_epoch``).
    """

    changes: list[Change]
    next_cursor: Cursor
    has_more: bool
    species_pack: SpeciesPackPublished | None = None
    log_epoch: Uid | None = None
