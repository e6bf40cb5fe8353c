"""Audit anchoring: a device sends the hub its audit chain, the hub keeps it append-only.

Each device's store keeps its audit trail as a hash chain (``sync.store.audit``); whoever
holds the store's key can remove its newest entries or rewrite it from an edit on and
compute every hash again. Sent to the hub as it grows, the chain is anchored off the device:
the hub checks that each batch extends what it holds for that device and refuses (and
records) one that does not.

An entry travels with its fields exactly as the store keeps them (``at`` in the store's
text form, ``details`` as its canonical JSON text), because its hash covers that text: the
hub computes the hash again from them, so what it keeps is what the device hashed. A batch
is contiguous (each entry follows the one before it), and an entry whose hash does not
match its fields is refused before anything is stored. A device numbers its batches, ever
higher (``AuditBatch.batch_number``): the hub keeps the highest it took and refuses an
older one as stale (``audit_stale``, not a break), since a batch that waited in a queue
past a later one carries a head the chain has grown beyond. A device told so (its number
went back with a restored backup) numbers past the hub's and sends again.

The endpoint is additive (``POST /api/v1/sites/{site}/audit``): it carries no protocol
version, and a device treats a hub without it (404) as one that does not anchor.

A device whose oldest entries retention deleted (``sync.store.retention``) says where its
kept chain begins in a header, ``AUDIT_CHECKPOINT_HEADER`` (``AuditCheckpoint``): the last
entry deleted, which its first kept entry follows. A hub that holds less of the chain than
that (a store registered again as a new device, or a hub restored from an older backup)
takes a batch that begins right after it, and records the entries it will never have
(``sync.hub.audit``). A header, as ``X-Jaga-Pack-Schema`` is, so it is additive: a hub
before it ignores it (and answers ``audit_gap`` as before), a device before it never sends it.

A registration (``jaga sync register``) appends an entry of its own (``REGISTERED_ACTION``,
naming the new device's id: ``registered_device``), and a device's anchoring begins there:
what the store recorded before it (another hub's people, another site's decisions, an
erasure's typed reason) is not the new device's to hand over. A hub that holds none of the
device's chain takes a batch that begins with that entry, linked to what came before by its
previous hash alone; a hub before it answers ``audit_gap`` from entry 1, which the device
does not send.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictStr, StringConstraints, field_validator, model_validator

from sync.protocol.types import (
    BIGINT_MAX,
    MAX_PAYLOAD_BYTES,
    TIMESTAMP_FORMAT,
    Cursor,
    RecordedText,
    Sha256Hex,
    Uid,
    WireModel,
)

GENESIS_HASH = "0" * 64  # entry 1's prev_hash
CREATED_ACTION = "store.created"  # entry 1's action
REGISTERED_ACTION = "sync.registered"  # a registration's entry: where its anchoring begins
MAX_AUDIT_BATCH_ENTRIES = 500
MAX_AUDIT_BODY_BYTES = 4 * 1024 * 1024
AUDIT_CHAIN_BREAK = "audit_chain_break"  # 409: the batch does not extend the hub's chain
AUDIT_GAP = "audit_gap"  # 409: send from the entry after ``expected_offset``
# 409: a batch numbered before one the hub took (``expected_offset``: the newest number)
AUDIT_STALE = "audit_stale"
# 409: the batch would take the device past the hub's daily limit on audit entries (over
# any 24 hours); it takes more once the device's earlier entries are a day old
AUDIT_QUOTA = "audit_quota"
# 409: the batch begins after a checkpoint past what the hub holds, but a record of entries
# the hub will never hold (``pruned_start``, ``pruned_gap``) is open already: acknowledged
# first, it may be taken
AUDIT_PRUNED_OPEN = "audit_pruned_open"

AUDIT_CHECKPOINT_HEADER = "X-Jaga-Audit-Checkpoint"  # "<sequence> <entry hash>"

AuditAction = Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
AuditTime = Annotated[
    StrictStr, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z$")
]
Details = Annotated[StrictStr, StringConstraints(max_length=MAX_PAYLOAD_BYTES)]


def canonical_json(value: Any) -> str:
    """The one JSON text form the chain hashes (sorted keys, no spaces, UTF-8 as is)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def registered_device(link: AuditLink) -> str | None:
    """The device id a registration's entry names (None for any other entry)."""
    if link.action != REGISTERED_ACTION:
        return None
    named = json.loads(link.details).get("device_id")
    return named.lower() if isinstance(named, str) else None


def audit_entry_hash(fields: Sequence[object]) -> str:
    """SHA-256 over (sequence, at, actor, action, subject, details, prev_hash)."""
    material = canonical_json(list(fields))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class AuditLink(WireModel):
    """One entry of a device's audit chain, as the store keeps it."""

    sequence: Annotated[int, Field(strict=True, ge=1, le=BIGINT_MAX)]
    at: AuditTime
    actor: RecordedText  # as the chain hashed them (``types.RecordedText``)
    action: AuditAction
    subject: RecordedText
    details: Details
    prev_hash: Sha256Hex
    entry_hash: Sha256Hex

    @field_validator("at")
    @classmethod
    def _a_time(cls, value: str) -> str:
        datetime.strptime(value, TIMESTAMP_FORMAT)  # the text is UTC ("Z")
        return value

    @field_validator("details")
    @classmethod
    def _a_json_object(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError("details must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise ValueError("details must be a JSON object")
        return value

    @model_validator(mode="after")
    def _hashed(self) -> AuditLink:
        if self.entry_hash != audit_entry_hash(self.hashed_fields()):
            raise ValueError(f"entry {self.sequence}'s hash does not match its contents")
        if self.sequence == 1 and (self.prev_hash, self.action) != (GENESIS_HASH, CREATED_ACTION):
            raise ValueError(f"entry 1 must be {CREATED_ACTION} after the genesis hash")
        return self

    def hashed_fields(self) -> tuple[object, ...]:
        return (
            self.sequence, self.at, self.actor, self.action, self.subject, self.details,
            self.prev_hash,
        )  # fmt: skip


class AuditBatch(WireModel):
    """Consecutive entries of the sending device's chain, oldest first (none when the hub
    holds them all), and the chain's newest entry as the device sends them: a chain that
    now ends before what the hub holds (its newest entries removed) shows at once, without
    waiting for the chain to grow past it."""

    device_id: Uid
    head_sequence: Annotated[int, Field(strict=True, ge=1, le=BIGINT_MAX)]
    head_hash: Sha256Hex
    entries: Annotated[list[AuditLink], Field(max_length=MAX_AUDIT_BATCH_ENTRIES)]
    # Each batch numbered higher than the device's one before: a batch held up past a later
    # one, and so carrying an older head, is refused as stale (``AUDIT_STALE``) rather than
    # taken for a chain rewound. Required: no client ever sent a batch without one.
    batch_number: Annotated[int, Field(strict=True, ge=1, le=BIGINT_MAX)]

    @model_validator(mode="after")
    def _contiguous(self) -> AuditBatch:
        for before, entry in zip(self.entries, self.entries[1:], strict=False):
            if entry.sequence != before.sequence + 1 or entry.prev_hash != before.entry_hash:
                raise ValueError(f"entry {entry.sequence} does not follow entry {before.sequence}")
        last = self.entries[-1] if self.entries else None
        if last is not None and last.sequence > self.head_sequence:
            raise ValueError(f"entry {last.sequence} lies past the head {self.head_sequence}")
        is_head = last is not None and last.sequence == self.head_sequence
        if is_head and last is not None and last.entry_hash != self.head_hash:
            raise ValueError(f"entry {last.sequence} is the head, with another hash")
        return self


class AuditReceipt(WireModel):
    """The newest entry the hub holds for the device once the batch is stored: send from
    the entry after it next time."""

    sequence: Cursor
    entry_hash: Sha256Hex
    stored: Annotated[int, Field(strict=True, ge=0, le=MAX_AUDIT_BATCH_ENTRIES)]


class AuditCheckpoint(WireModel):
    """The last entry retention deleted on the device (``AUDIT_CHECKPOINT_HEADER``): the
    first entry it keeps has this entry's hash as its ``prev_hash``."""

    sequence: Annotated[int, Field(strict=True, ge=1, le=BIGINT_MAX)]
    entry_hash: Sha256Hex

    def header(self) -> str:
        return f"{self.sequence} {self.entry_hash}"

    @classmethod
    def from_header(cls, value: str) -> AuditCheckpoint:
        """The header's value read back; raises ``ValueError`` for anything else."""
        sequence, _, digest = value.partition(" ")
        if not (sequence.isascii() and sequence.isdigit() and len(sequence) <= 19):
            raise ValueError("not a sequence and a hash")
        return cls(sequence=int(sequence), entry_hash=digest)
